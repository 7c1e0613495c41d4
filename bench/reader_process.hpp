// A concurrent reader in another process, like the broadcaster: it attaches the segment
// read-only and reads continuously while the benchmark's writer runs.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace progressista::bench {

enum class ReadMode {
  kScan,    // TaskTable::for_each over the whole table, again and again (a snapshot loop)
  kLookup,  // TaskTable::lookup of the writer's own task ids, round-robin (worst-case sharing)
};

class ReaderProcess {
 public:
  struct Control;  // the page shared with the child; defined in reader_process.cpp

  // Forks the reader and waits (at most a few seconds) until it has attached and started
  // reading. `ids` are the ids kLookup cycles through.
  ReaderProcess(const std::string& segment, ReadMode mode, const std::vector<std::string>& ids);
  // stop()s the reader if still running.
  ~ReaderProcess();
  ReaderProcess(const ReaderProcess&) = delete;
  ReaderProcess& operator=(const ReaderProcess&) = delete;

  // False when the reader failed to attach or start in time; error() says why.
  [[nodiscard]] bool running() const noexcept { return running_; }
  [[nodiscard]] const std::string& error() const noexcept { return error_; }

  // Tasks the reader has copied so far (updated after every pass or batch of lookups).
  [[nodiscard]] std::uint64_t reads() const noexcept;

  // Tells the reader to finish, waits for it (bounded), kills it if it does not exit.
  void stop();

 private:
  Control* control_ = nullptr;  // an anonymous MAP_SHARED page both processes see
  pid_t pid_ = -1;
  bool running_ = false;
  std::string error_;
};

}  // namespace progressista::bench
