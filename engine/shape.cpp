// Shape helpers: element count, printing, dim normalisation.
#include "engine/shape.h"

#include "engine/error.h"

namespace tg {

bool mul_overflows(int64_t a, int64_t b, int64_t& product) { return __builtin_mul_overflow(a, b, &product); }

int64_t numel_of(const Shape& shape) {
  // Zeros are skipped in the overflow check, so a shape accepted here has every partial product of
  // its sizes (strides, flatten counts) in range too; any zero makes the count 0.
  int64_t n = 1;
  bool has_zero = false;
  for (int64_t d : shape) {
    if (d == 0) {
      has_zero = true;
      continue;
    }
    TG_CHECK(!mul_overflows(n, d, n),
             "shape " << shape_str(shape) << " is too large: its sizes multiply to more than 2^63 - 1 elements");
  }
  return has_zero ? 0 : n;
}

int64_t nbytes_of(const Shape& shape, int64_t element_size) {
  const int64_t n = numel_of(shape);
  int64_t bytes = 0;
  TG_CHECK(!mul_overflows(n, element_size, bytes), "shape " << shape_str(shape) << " is too large: its " << n
                                                            << " elements of " << element_size
                                                            << " bytes need more than 2^63 - 1 bytes");
  return bytes;
}

std::string shape_str(const Shape& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

int normalize_dim(int dim, int ndim, const char* op) {
  int d = dim < 0 ? dim + ndim : dim;
  TG_CHECK(d >= 0 && d < ndim, op << ": dim " << dim << " is out of range for a tensor with " << ndim << " dims");
  return d;
}

}  // namespace tg
