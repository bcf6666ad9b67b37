// Shape helpers: element count, printing, dim normalisation.
#include "engine/shape.h"

#include "engine/error.h"

namespace tg {

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
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
