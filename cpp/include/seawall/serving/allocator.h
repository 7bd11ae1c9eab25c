// Where the dynamic batcher gathers a batch's rows. The batcher asks an allocator for one buffer
// per instance (large enough for max_batch_size rows), copies each request's rows into its host
// memory, calls stage(), and hands the model a view of data().
//
// The CPU allocator below is the only one today. A CUDA path plugs in here without reshaping the
// batcher: its buffer's host() is pinned memory, stage() starts the host-to-device copy on the
// instance's stream, data() is the device pointer, and device() says where data() lives, so the
// bindings hand the model a device array instead of a numpy one.
#pragma once

#include <cstddef>
#include <memory>

namespace seawall::serving {

enum class Device { kCpu, kCuda };

// Memory for the rows of one batch. Owned by one instance at a time (or, when a model keeps the
// batch array past its call, by that array); never shared between concurrent batches.
class BatchBuffer {
 public:
  virtual ~BatchBuffer() = default;
  // Host memory the rows are copied into: capacity() bytes, aligned to 64 bytes.
  virtual std::byte* host() = 0;
  virtual size_t capacity() const = 0;
  // Called once the first `bytes` bytes of host() hold the batch and before the model runs.
  virtual void stage(size_t bytes) { (void)bytes; }
  // What the model reads: host() itself on the CPU.
  virtual void* data() { return host(); }
  virtual Device device() const { return Device::kCpu; }
};

class BatchAllocator {
 public:
  virtual ~BatchAllocator() = default;
  // A buffer of at least `bytes` bytes (bytes may be 0). Throws std::bad_alloc when out of memory.
  // Called from the batcher's constructor and, rarely, from an instance's thread (after a model
  // kept its batch array), so it must be thread-safe.
  virtual std::unique_ptr<BatchBuffer> allocate(size_t bytes) = 0;
  virtual const char* name() const = 0;
};

// Plain 64-byte-aligned host memory.
std::shared_ptr<BatchAllocator> cpu_allocator();

}  // namespace seawall::serving
