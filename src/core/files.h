#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace uaqf {

// Throws Error(kNotFound) when `path` is missing, (kInvalidArgument) when it is a folder and
// (kIo) when it cannot be opened. `what` names the role of the file in the message ("model").
void require_readable_file(const std::filesystem::path& path, std::string_view what);

// Creates `dir` (and parents) and proves it writable by creating and removing a file in it.
void require_writable_dir(const std::filesystem::path& dir, std::string_view what);

// Lower-case hex SHA-256 of a file's content.
std::string sha256_file(const std::filesystem::path& path);

// Lower-case hex SHA-256 of bytes in memory.
std::string sha256_hex(std::string_view bytes);

uint64_t file_size_bytes(const std::filesystem::path& path);

// Modification time in nanoseconds since the epoch of the file clock; only compared for equality.
int64_t file_mtime_ns(const std::filesystem::path& path);

// Text inputs (corpora, prompt and task files, profiles, results) above this are refused: a
// whole corpus of a study is far smaller, and an endless input must not grow until bad_alloc.
inline constexpr uint64_t kMaxTextFileBytes = uint64_t{1} << 30;  // 1 GiB

// The whole file; throws Error naming the file for a device (/dev/zero), a read error, or more
// than `max_bytes`.
std::string read_text_file(const std::filesystem::path& path, uint64_t max_bytes = kMaxTextFileBytes);

// The byte offset of the first byte that is not part of valid UTF-8 (overlong forms and
// surrogates included), or nullopt when all of `text` is valid.
std::optional<std::size_t> first_invalid_utf8(std::string_view text);

// Writes to "<path>.partial" and renames it over `path`, so a reader never sees half a file
// and an interrupted run leaves nothing that looks complete.
void write_file_atomic(const std::filesystem::path& path, std::string_view content);

// The partial file that write_file_atomic and other atomic writers use for `path`.
std::filesystem::path partial_path_for(const std::filesystem::path& path);

// Writes a large file straight through write(2)/writev(2): no stream buffer, and a repeated pattern
// is handed to the kernel as many views of one buffer instead of being copied (synthetic models
// are gigabytes of a few repeated rows). Throws Error(kIo) naming the file on any failure.
class RawFileWriter {
 public:
  explicit RawFileWriter(const std::filesystem::path& path);  // created or truncated
  RawFileWriter(const RawFileWriter&) = delete;
  RawFileWriter& operator=(const RawFileWriter&) = delete;
  ~RawFileWriter();
  void write(std::span<const char> bytes);
  // `total_bytes` of `pattern` repeated: whole copies, then the pattern's beginning.
  void write_repeated(std::span<const char> pattern, std::size_t total_bytes);
  // Zero bytes up to the next multiple of `alignment` of the bytes written so far.
  void pad_to(std::size_t alignment);
  void close();
  uint64_t bytes_written() const { return written_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  uint64_t written_ = 0;
};

}  // namespace uaqf
