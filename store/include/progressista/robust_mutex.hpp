// A process-shared mutex that lives in shared memory and survives the death of its owner.
//
// Boost's interprocess_mutex becomes unrecoverable once an owner dies (it never calls
// pthread_mutex_consistent), so the write path uses a raw robust pthread mutex instead:
// the kernel records the owner and, when it dies, hands the lock to the next locker with
// EOWNERDEAD; we mark it consistent and report that the protected state may need repair.
#pragma once

#include <pthread.h>

namespace progressista {

class RobustMutex {
 public:
  // Only for placement into a freshly created segment; attached processes never construct.
  RobustMutex();
  ~RobustMutex() = default;  // never destroyed: the segment outlives every process
  RobustMutex(const RobustMutex&) = delete;
  RobustMutex& operator=(const RobustMutex&) = delete;

  enum class Acquired { kClean, kOwnerDied };

  // Blocks until acquired. kOwnerDied: the previous owner died holding the lock; the caller
  // now owns it and must repair whatever the lock protects before unlocking.
  [[nodiscard]] Acquired lock();
  void unlock();

 private:
  pthread_mutex_t m_;
};

// RAII guard; `owner_died()` tells the holder to repair the protected state.
class RobustLock {
 public:
  explicit RobustLock(RobustMutex& m) : m_(m), died_(m.lock() == RobustMutex::Acquired::kOwnerDied) {}
  ~RobustLock() { m_.unlock(); }
  RobustLock(const RobustLock&) = delete;
  RobustLock& operator=(const RobustLock&) = delete;
  [[nodiscard]] bool owner_died() const noexcept { return died_; }

 private:
  RobustMutex& m_;
  bool died_;
};

}  // namespace progressista
