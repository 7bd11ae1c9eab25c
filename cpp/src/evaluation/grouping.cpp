#include "grouping_internal.h"

namespace seawall::evaluation {

void check_groups(const Groups& groups, int64_t n) {
  SEAWALL_CHECK(n >= 0, "the number of rows must not be negative, got ", n);
  SEAWALL_CHECK(groups.count >= 1, "the number of groups must be at least 1, got ", groups.count);
  if (groups.ids == nullptr) {
    SEAWALL_CHECK(groups.count == 1, "rows without group ids make one group, not ", groups.count);
    return;
  }
  check_all_rows(n, [&](int64_t i) {
    const int32_t g = groups.ids[i];
    SEAWALL_CHECK(g >= -1 && g < groups.count, "the group id of row ", i, " is ", g,
                  ", outside [-1, ", groups.count, ")");
  });
}

}  // namespace seawall::evaluation
