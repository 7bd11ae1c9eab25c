#include "seawall/serving/allocator.h"

#include <cstdlib>
#include <new>

namespace seawall::serving {
namespace {

constexpr size_t kAlignment = 64;

class CpuBuffer final : public BatchBuffer {
 public:
  explicit CpuBuffer(size_t bytes) : capacity_(bytes) {
    // aligned_alloc wants a multiple of the alignment, and a zero-byte buffer still gets an
    // address (rows of zero bytes are allowed).
    const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    data_ = static_cast<std::byte*>(std::aligned_alloc(kAlignment, rounded == 0 ? kAlignment : rounded));
    if (data_ == nullptr) throw std::bad_alloc();
  }
  ~CpuBuffer() override { std::free(data_); }
  CpuBuffer(const CpuBuffer&) = delete;
  CpuBuffer& operator=(const CpuBuffer&) = delete;

  std::byte* host() override { return data_; }
  size_t capacity() const override { return capacity_; }

 private:
  std::byte* data_ = nullptr;
  size_t capacity_;
};

class CpuAllocator final : public BatchAllocator {
 public:
  std::unique_ptr<BatchBuffer> allocate(size_t bytes) override {
    return std::make_unique<CpuBuffer>(bytes);
  }
  const char* name() const override { return "cpu"; }
};

}  // namespace

std::shared_ptr<BatchAllocator> cpu_allocator() {
  static const auto allocator = std::make_shared<CpuAllocator>();
  return allocator;
}

}  // namespace seawall::serving
