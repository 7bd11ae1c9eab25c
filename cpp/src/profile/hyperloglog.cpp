#include "seawall/profile/hyperloglog.h"

#include <cmath>
#include <limits>

#include "seawall/core/hash.h"
#include "seawall/errors.h"

namespace seawall::profile {

namespace {

// sigma(x) = x + sum_{k>=1} x^(2^k) 2^(k-1): the small-range correction (Ertl 2017, eq. 19).
double sigma(double x) {
  if (x == 1.0) return std::numeric_limits<double>::infinity();
  double y = 1.0;
  double z = x;
  double previous;
  do {
    x *= x;
    previous = z;
    z += x * y;
    y += y;
  } while (z != previous);
  return z;
}

// tau(x) = (1 - x - sum_{k>=1} (1 - x^(2^-k))^2 2^-k) / 3: the large-range correction.
double tau(double x) {
  if (x == 0.0 || x == 1.0) return 0.0;
  double y = 1.0;
  double z = 1.0 - x;
  double previous;
  do {
    x = std::sqrt(x);
    previous = z;
    y *= 0.5;
    z -= (1.0 - x) * (1.0 - x) * y;
  } while (z != previous);
  return z / 3.0;
}

}  // namespace

HyperLogLog::HyperLogLog(uint8_t p) : p_(p) {
  SEAWALL_CHECK(p >= kMinPrecision && p <= kMaxPrecision, "HyperLogLog: precision must be in [",
                int(kMinPrecision), ", ", int(kMaxPrecision), "], got ", int(p));
  registers_.assign(size_t{1} << p, 0);
}

void HyperLogLog::add_bytes(std::string_view s) { add_hash(xxh64(s.data(), s.size())); }

void HyperLogLog::merge(const HyperLogLog& other) {
  SEAWALL_CHECK(other.p_ == p_, "HyperLogLog::merge: precision differs (", int(p_), " vs ",
                int(other.p_), ")");
  for (size_t i = 0; i < registers_.size(); ++i) {
    if (other.registers_[i] > registers_[i]) registers_[i] = other.registers_[i];
  }
}

double HyperLogLog::estimate() const {
  const int q = 64 - p_;
  std::vector<double> histogram(q + 2, 0.0);
  for (uint8_t r : registers_) histogram[r] += 1.0;
  const double m = static_cast<double>(registers_.size());
  if (histogram[0] == m) return 0.0;
  double z = m * tau(1.0 - histogram[q + 1] / m);
  for (int k = q; k >= 1; --k) z = 0.5 * (z + histogram[k]);
  z += m * sigma(histogram[0] / m);
  const double alpha_inf = 0.5 / std::log(2.0);
  return alpha_inf * m * m / z;
}

double HyperLogLog::relative_standard_error(uint8_t p) {
  SEAWALL_CHECK(p >= kMinPrecision && p <= kMaxPrecision, "HyperLogLog: precision must be in [",
                int(kMinPrecision), ", ", int(kMaxPrecision), "], got ", int(p));
  return 1.04 / std::sqrt(static_cast<double>(size_t{1} << p));
}

HyperLogLog HyperLogLog::from_registers(uint8_t p, const uint8_t* data, size_t size) {
  if (p < kMinPrecision || p > kMaxPrecision) {
    throw CorruptState(detail::concat("HyperLogLog: bad precision ", int(p)));
  }
  if (size != (size_t{1} << p) || data == nullptr) {
    throw CorruptState("HyperLogLog: register count does not match the precision");
  }
  HyperLogLog h(p);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] > 65 - p) throw CorruptState("HyperLogLog: register value out of range");
    h.registers_[i] = data[i];
  }
  return h;
}

}  // namespace seawall::profile
