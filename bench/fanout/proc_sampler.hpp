// The server's CPU time and memory, read from /proc/PID (Linux): utime + stime from `stat`,
// VmRSS and VmHWM from `status`; a thread samples VmRSS to catch the peak of a run. A server of
// several processes (nginx: master + workers) is the sum of its processes.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace fanout {

struct ProcUsage {
  double cpu_seconds = 0;  // user + system, all threads
  std::uint64_t rss_kib = 0;
  std::uint64_t hwm_kib = 0;    // peak RSS since start or since reset_peak_rss()
  std::uint64_t anon_kib = 0;   // RssAnon: the process's own memory (heap, stacks)
  std::uint64_t shmem_kib = 0;  // RssShmem: pages of the shared segment it touched
};

[[nodiscard]] std::optional<ProcUsage> read_proc(pid_t pid);
// The sum over `pids` (each field added up: pages several of them map, such as a shared memory
// zone or the binary's, count once per process); nullopt when one of them cannot be read.
[[nodiscard]] std::optional<ProcUsage> read_procs(const std::vector<pid_t>& pids);
// CPU seconds (user + system) of each thread of `pids`, by thread id.
[[nodiscard]] std::map<pid_t, double> read_thread_cpu(const std::vector<pid_t>& pids);
// Starts VmHWM over from the current RSS (writes 5 to /proc/PID/clear_refs, Linux >= 4.0) for
// each of `pids`; false when one failed.
[[nodiscard]] bool reset_peak_rss(const std::vector<pid_t>& pids);
// The process's own CPU time (user + system, every thread).
[[nodiscard]] double self_cpu_seconds();
// The process's own peak RSS, MiB.
[[nodiscard]] double self_peak_rss_mib();

// Samples the summed VmRSS and RssAnon of `pids`.
class RssSampler {
 public:
  RssSampler(std::vector<pid_t> pids, std::chrono::milliseconds every);
  ~RssSampler();
  RssSampler(const RssSampler&) = delete;
  RssSampler& operator=(const RssSampler&) = delete;
  void stop();
  [[nodiscard]] std::uint64_t peak_kib() const noexcept { return peak_.load(); }
  [[nodiscard]] std::uint64_t peak_anon_kib() const noexcept { return peak_anon_.load(); }

 private:
  std::vector<pid_t> pids_;
  std::chrono::milliseconds every_;
  std::atomic<std::uint64_t> peak_{0};
  std::atomic<std::uint64_t> peak_anon_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace fanout
