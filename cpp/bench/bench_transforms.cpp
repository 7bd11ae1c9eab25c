// Throughput of Plan::transform on a wide table, next to memcpy of a buffer of the same size, so
// the numbers can be read as "how close to memory bandwidth".
//
//   seawall_bench [rows=1000000] [threads=default]
//
// Two plans: 20 float32 columns through a standard-scale op plus 5 string columns of 50 levels
// one-hot encoded (270 outputs), and the 20 numeric columns alone. Each is run once to warm up
// (page faults, pool start) and then 5 times; the median is reported. GB/s counts the bytes read
// from the inputs plus the bytes written to the output (1 GB = 1e9 bytes); memcpy counts the bytes
// it copied once (each is read once and written once, like the transform's output).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "seawall/core/column.h"
#include "seawall/core/thread_pool.h"
#include "seawall/transforms/program.h"

namespace {

namespace tf = seawall::transforms;

constexpr int kNumeric = 20;
constexpr int kStrings = 5;
constexpr int kLevels = 50;
constexpr int kRuns = 5;

template <typename Fn>
double median_ms(Fn&& fn) {
  fn();  // warm-up
  std::vector<double> ms;
  for (int i = 0; i < kRuns; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    const auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[kRuns / 2];
}

double gbps(double bytes, double ms) { return bytes / (ms * 1e-3) / 1e9; }

struct StringColumn {
  std::vector<int32_t> offsets;
  std::string data;
};

// Keeps the compiler from dropping work whose result is never read.
volatile float g_sink;

}  // namespace

int main(int argc, char** argv) {
  const int64_t rows = argc > 1 ? std::strtoll(argv[1], nullptr, 10) : 1000000;
  if (rows <= 0) {
    std::fprintf(stderr, "usage: %s [rows > 0] [threads]\n", argv[0]);
    return 2;
  }
  if (argc > 2) seawall::set_num_threads(std::atoi(argv[2]));

  std::mt19937_64 rng(42);
  std::normal_distribution<float> normal(10.0f, 3.0f);

  // Inputs.
  std::vector<std::vector<float>> numeric(kNumeric, std::vector<float>(rows));
  for (auto& col : numeric) {
    for (auto& v : col) v = normal(rng);
  }
  std::vector<std::string> levels;
  for (int i = 0; i < kLevels; ++i) levels.push_back("level_" + std::to_string(i));
  std::vector<StringColumn> strings(kStrings);
  for (auto& col : strings) {
    col.offsets.reserve(rows + 1);
    col.offsets.push_back(0);
    for (int64_t r = 0; r < rows; ++r) {
      col.data += levels[rng() % kLevels];
      col.offsets.push_back(static_cast<int32_t>(col.data.size()));
    }
  }

  std::vector<seawall::Column> columns;
  double numeric_bytes = 0, string_bytes = 0;
  for (int k = 0; k < kNumeric; ++k) {
    seawall::ColumnChunk c;
    c.type = seawall::ValueType::kFloat32;
    c.length = rows;
    c.values = numeric[k].data();
    columns.push_back({"x" + std::to_string(k), {c}});
    numeric_bytes += static_cast<double>(rows) * sizeof(float);
  }
  for (int k = 0; k < kStrings; ++k) {
    seawall::ColumnChunk c;
    c.type = seawall::ValueType::kUtf8;
    c.length = rows;
    c.offsets = strings[k].offsets.data();
    c.data = strings[k].data.data();
    columns.push_back({"s" + std::to_string(k), {c}});
    string_bytes += static_cast<double>(strings[k].offsets.size()) * sizeof(int32_t) + strings[k].data.size();
  }

  // Programs.
  std::vector<tf::ColumnProgram> numeric_programs;
  for (int k = 0; k < kNumeric; ++k) {
    tf::ColumnProgram p;
    p.column = columns[k].name;
    p.input = k;
    tf::NumericOp op;
    op.kind = tf::NumericOpKind::kScale;
    op.shift = 10.0;
    op.scale = 3.0;
    p.numeric_ops.push_back(op);
    numeric_programs.push_back(p);
  }
  std::vector<tf::ColumnProgram> mixed_programs = numeric_programs;
  for (int k = 0; k < kStrings; ++k) {
    tf::ColumnProgram p;
    p.column = columns[kNumeric + k].name;
    p.input = kNumeric + k;
    p.string_input = true;
    p.categorical.kind = tf::CategoricalKind::kOneHot;
    p.categorical.categories = levels;
    mixed_programs.push_back(p);
  }
  const tf::Plan mixed(mixed_programs);
  const tf::Plan numeric_only(numeric_programs);
  const std::vector<seawall::Column> numeric_columns(columns.begin(), columns.begin() + kNumeric);

  std::printf("seawall transform benchmark: %lld rows, %d threads, median of %d runs\n",
              static_cast<long long>(rows), seawall::num_threads(), kRuns);

  auto report = [&](const char* name, const tf::Plan& plan, const std::vector<seawall::Column>& cols,
                    double input_bytes) {
    std::vector<float> out(static_cast<size_t>(rows * plan.width()));
    const double ms = median_ms([&] {
      plan.transform(cols, out.data());
      g_sink = out[out.size() / 2];
    });
    const double out_bytes = static_cast<double>(out.size()) * sizeof(float);
    std::printf("  %-28s width %4lld  %9.3f ms  %6.2f GB/s (in+out)  %6.2f GB/s (out)  %7.1f Mrows/s\n", name,
                static_cast<long long>(plan.width()), ms, gbps(input_bytes + out_bytes, ms), gbps(out_bytes, ms),
                static_cast<double>(rows) / (ms * 1e-3) / 1e6);

    // memcpy of a buffer the size of this plan's output, for comparison.
    std::vector<float> copy(out.size());
    const double copy_ms = median_ms([&] {
      std::memcpy(copy.data(), out.data(), out.size() * sizeof(float));
      g_sink = copy[copy.size() / 3];
    });
    std::printf("  %-28s             %9.3f ms  %6.2f GB/s (copied bytes, 1 thread)\n", "memcpy, same size", copy_ms,
                gbps(out_bytes, copy_ms));
  };
  report("20 scale + 5 one-hot(50)", mixed, columns, numeric_bytes + string_bytes);
  report("20 scale (numeric only)", numeric_only, numeric_columns, numeric_bytes);
  return 0;
}
