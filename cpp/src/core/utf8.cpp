#include "seawall/core/utf8.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace seawall {

namespace {

constexpr uint64_t kHighBits = 0x8080808080808080ULL;

// Skips whole 8-byte words of ASCII; returns the first position that may hold a non-ASCII byte.
const unsigned char* skip_ascii_words(const unsigned char* p, const unsigned char* end) {
  while (end - p >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    if (word & kHighBits) break;
    p += 8;
  }
  return p;
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
  // The byte ranges of the Unicode Standard's Table 3-7 (well-formed UTF-8), checked directly:
  // the second byte's range excludes overlong forms (after 0xE0, 0xF0), surrogates (after 0xED)
  // and code points past U+10FFFF (after 0xF4).
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  const auto cont = [](unsigned char b) { return (b & 0xC0) == 0x80; };
  while (p < end) {
    if (*p < 0x80) {
      ++p;
      p = skip_ascii_words(p, end);
      continue;
    }
    const unsigned char lead = *p;
    const std::ptrdiff_t left = end - p;
    if (lead >= 0xC2 && lead <= 0xDF) {
      if (left < 2 || !cont(p[1])) return false;
      p += 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      if (left < 3 || !cont(p[2])) return false;
      const unsigned char lo = lead == 0xE0 ? 0xA0 : 0x80;
      const unsigned char hi = lead == 0xED ? 0x9F : 0xBF;
      if (p[1] < lo || p[1] > hi) return false;
      p += 3;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      if (left < 4 || !cont(p[2]) || !cont(p[3])) return false;
      const unsigned char lo = lead == 0xF0 ? 0x90 : 0x80;
      const unsigned char hi = lead == 0xF4 ? 0x8F : 0xBF;
      if (p[1] < lo || p[1] > hi) return false;
      p += 4;
    } else {
      return false;  // a continuation byte without a lead, 0xC0, 0xC1, or 0xF5..0xFF
    }
  }
  return true;
}

}  // namespace seawall
