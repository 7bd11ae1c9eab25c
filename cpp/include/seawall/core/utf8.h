// UTF-8 validity. Arrow's string types promise UTF-8 but do not enforce it (an array built from
// raw buffers, or read from a file, may hold any bytes); the core checks once, where columns come
// in, so that every kernel and every string handed back to a caller is well-formed text.
#pragma once

#include <string_view>

namespace seawall {

// True when `s` is well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates (U+D800 to
// U+DFFF), nothing past U+10FFFF, no truncated sequence.
bool is_valid_utf8(std::string_view s);

}  // namespace seawall
