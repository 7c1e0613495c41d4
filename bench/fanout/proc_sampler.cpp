#include "proc_sampler.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

namespace fanout {

namespace {
// utime + stime of a `stat` file (a process's or one thread's), in seconds.
std::optional<double> stat_cpu_seconds(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  // The command name (field 2) may hold spaces and parentheses: fields count from the last ')'.
  const std::size_t close = line.rfind(')');
  if (close == std::string::npos || close + 2 > line.size()) return std::nullopt;
  std::istringstream fields(line.substr(close + 2));
  std::string skip;
  unsigned long long utime = 0, stime = 0;
  for (int field = 3; field <= 13; ++field) fields >> skip;  // state .. cmajflt
  if (!(fields >> utime >> stime)) return std::nullopt;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}
}  // namespace

std::map<pid_t, double> read_thread_cpu(const std::vector<pid_t>& pids) {
  std::map<pid_t, double> threads;
  for (const pid_t pid : pids) {
    std::error_code ec;
    const std::string dir = "/proc/" + std::to_string(pid) + "/task";
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      const std::string tid = entry.path().filename().string();
      if (const auto cpu = stat_cpu_seconds(entry.path().string() + "/stat"))
        threads[static_cast<pid_t>(std::stol(tid))] = *cpu;
    }
  }
  return threads;
}

std::optional<ProcUsage> read_proc(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  ProcUsage u;
  const auto cpu = stat_cpu_seconds(dir + "/stat");
  if (!cpu) return std::nullopt;
  u.cpu_seconds = *cpu;
  std::ifstream in(dir + "/status");
  std::string key;
  std::uint64_t kib = 0;
  while (in >> key) {
    if (key == "VmRSS:" && in >> kib) u.rss_kib = kib;
    if (key == "VmHWM:" && in >> kib) u.hwm_kib = kib;
    if (key == "RssAnon:" && in >> kib) u.anon_kib = kib;
    if (key == "RssShmem:" && in >> kib) u.shmem_kib = kib;
    in.ignore(1 << 12, '\n');
  }
  return u;
}

std::optional<ProcUsage> read_procs(const std::vector<pid_t>& pids) {
  ProcUsage sum;
  for (const pid_t pid : pids) {
    const auto u = read_proc(pid);
    if (!u) return std::nullopt;
    sum.cpu_seconds += u->cpu_seconds;
    sum.rss_kib += u->rss_kib;
    sum.hwm_kib += u->hwm_kib;
    sum.anon_kib += u->anon_kib;
    sum.shmem_kib += u->shmem_kib;
  }
  return sum;
}

bool reset_peak_rss(const std::vector<pid_t>& pids) {
  bool all = true;
  for (const pid_t pid : pids) {
    std::ofstream out("/proc/" + std::to_string(pid) + "/clear_refs");
    out << "5\n";
    out.flush();
    all = all && static_cast<bool>(out);
  }
  return all;
}

double self_cpu_seconds() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(r.ru_utime) + seconds(r.ru_stime);
}

double self_peak_rss_mib() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return static_cast<double>(r.ru_maxrss) / 1024.0;  // KiB on Linux
}

RssSampler::RssSampler(std::vector<pid_t> pids, std::chrono::milliseconds every)
    : pids_(std::move(pids)), every_(every) {
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      if (const auto u = read_procs(pids_)) {
        peak_.store(std::max(peak_.load(), u->rss_kib));
        peak_anon_.store(std::max(peak_anon_.load(), u->anon_kib));
      }
      wake_.wait_for(lock, every_, [this] { return stopping_; });
    }
  });
}

RssSampler::~RssSampler() {
  stop();
}

void RssSampler::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace fanout
