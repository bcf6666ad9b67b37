// Shape: the list of dimension sizes of a row-major contiguous tensor, and helpers on it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tg {

using Shape = std::vector<int64_t>;

// Product of the dimensions (1 for a scalar shape {}).
int64_t numel_of(const Shape& shape);

// "(2, 3, 4)" — used in every error message that mentions a shape.
std::string shape_str(const Shape& shape);

// Resolves a possibly negative dim (-1 = last) against ndim; throws naming the op when out of range.
int normalize_dim(int dim, int ndim, const char* op);

}  // namespace tg
