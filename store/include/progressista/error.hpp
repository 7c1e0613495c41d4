// Errors raised while attaching to or creating a segment (never on the per-event path).
#pragma once

#include <stdexcept>
#include <string>

namespace progressista {

class StoreError : public std::runtime_error {
 public:
  enum class Code {
    kNotFound,         // attach-only and the segment does not exist
    kLayoutMismatch,   // magic, layout version or record size differ
    kCapacityMismatch, // the segment exists with another shape (capacity, memory budget)
    kInvalidShape,     // the requested capacity or memory budget is impossible
    kNoSpace,          // /dev/shm cannot hold the segment
    kNotReady,         // the creator died before finishing initialisation
    kPermission,       // cannot open (mode/owner)
    kSystem,           // any other OS error
  };
  StoreError(Code code, const std::string& what) : std::runtime_error(what), code_(code) {}
  [[nodiscard]] Code code() const noexcept { return code_; }

 private:
  Code code_;
};

}  // namespace progressista
