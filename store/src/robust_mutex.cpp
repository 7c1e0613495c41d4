#include "progressista/robust_mutex.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace progressista {

namespace {
// A failure here means the segment is corrupt or the system is broken; continuing would
// break mutual exclusion, so stop loudly.
[[noreturn]] void die(const char* what, int rc) {
  std::fprintf(stderr, "progressista: %s failed: %s\n", what, std::strerror(rc));
  std::abort();
}
}  // namespace

RobustMutex::RobustMutex() {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  if (const int rc = pthread_mutex_init(&m_, &attr); rc != 0) die("pthread_mutex_init", rc);
  pthread_mutexattr_destroy(&attr);
}

RobustMutex::Acquired RobustMutex::lock() {
  const int rc = pthread_mutex_lock(&m_);
  if (rc == 0) return Acquired::kClean;
  if (rc == EOWNERDEAD) {
    // We own it now; mark it usable again. The caller repairs what it protects.
    if (const int c = pthread_mutex_consistent(&m_); c != 0) die("pthread_mutex_consistent", c);
    return Acquired::kOwnerDied;
  }
  die("pthread_mutex_lock", rc);
}

void RobustMutex::unlock() {
  if (const int rc = pthread_mutex_unlock(&m_); rc != 0) die("pthread_mutex_unlock", rc);
}

}  // namespace progressista
