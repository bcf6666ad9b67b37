// Shape: the list of dimension sizes of a row-major contiguous tensor, and helpers on it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tg {

using Shape = std::vector<int64_t>;

// product = a * b; returns true (product then unusable) when it does not fit in int64. The one
// overflow check for element counts and byte sizes.
bool mul_overflows(int64_t a, int64_t b, int64_t& product);

// Product of the dimensions (1 for a scalar shape {}); throws when it does not fit in int64.
int64_t numel_of(const Shape& shape);

// numel_of(shape) * element_size; throws when it does not fit in int64.
int64_t nbytes_of(const Shape& shape, int64_t element_size);

// "(2, 3, 4)" — used in every error message that mentions a shape.
std::string shape_str(const Shape& shape);

// Resolves a possibly negative dim (-1 = last) against ndim; throws naming the op when out of range.
int normalize_dim(int dim, int ndim, const char* op);

}  // namespace tg
