#include "core/files.h"

#include <openssl/evp.h>
#include <cstdint>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/std.h>

#include "core/error.h"

namespace uaqf {
namespace fs = std::filesystem;

void require_readable_file(const fs::path& path, std::string_view what) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    throw Error(ErrorCode::kNotFound, fmt::format("{} file not found: {}", what, path.string()));
  }
  if (fs::is_directory(status)) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{} path is a folder, not a file: {}", what, path.string()));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Error(ErrorCode::kIo, fmt::format("cannot open {} file {}: {}", what, path.string(), std::strerror(errno)));
  }
}

void require_writable_dir(const fs::path& dir, std::string_view what) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    throw Error(ErrorCode::kIo, fmt::format("cannot create {} folder {}: {}", what, dir.string(), ec.message()));
  }
  if (!fs::is_directory(dir)) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{} path is not a folder: {}", what, dir.string()));
  }
  const fs::path probe = dir / ".uaqf-write-probe";
  {
    std::ofstream out(probe, std::ios::binary | std::ios::trunc);
    if (!out) {
      throw Error(ErrorCode::kIo,
                  fmt::format("{} folder is not writable: {}: {}", what, dir.string(), std::strerror(errno)));
    }
  }
  fs::remove(probe, ec);
}

std::string sha256_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Error(ErrorCode::kIo, fmt::format("cannot open {} to hash it: {}", path.string(), std::strerror(errno)));
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    throw Error(ErrorCode::kInternal, "OpenSSL SHA-256 initialisation failed");
  }
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto got = in.gcount();
    if (got > 0) {
      EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(got));
    }
  }
  if (in.bad()) {
    throw Error(ErrorCode::kIo, fmt::format("read error while hashing {}", path.string()));
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_len = 0;
  EVP_DigestFinal_ex(ctx.get(), digest.data(), &digest_len);
  std::string hex;
  hex.reserve(digest_len * 2);
  for (unsigned int i = 0; i < digest_len; ++i) {
    hex += fmt::format("{:02x}", digest[i]);
  }
  return hex;
}

std::string sha256_hex(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest.data(), &digest_len, EVP_sha256(), nullptr) != 1) {
    throw Error(ErrorCode::kInternal, "OpenSSL SHA-256 failed");
  }
  std::string hex;
  for (unsigned int i = 0; i < digest_len; ++i) {
    hex += fmt::format("{:02x}", digest[i]);
  }
  return hex;
}

uint64_t file_size_bytes(const fs::path& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) {
    throw Error(ErrorCode::kIo, fmt::format("cannot read the size of {}: {}", path.string(), ec.message()));
  }
  return size;
}

int64_t file_mtime_ns(const fs::path& path) {
  std::error_code ec;
  const auto time = fs::last_write_time(path, ec);
  if (ec) {
    throw Error(ErrorCode::kIo, fmt::format("cannot read the time of {}: {}", path.string(), ec.message()));
  }
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

std::string read_text_file(const fs::path& path, uint64_t max_bytes) {
  require_readable_file(path, "input");
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (fs::is_character_file(status) || fs::is_block_file(status)) {
    // /dev/zero and the like never end: refused at once instead of read until memory runs out.
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{} is a device, not a text file", path.string()));
  }
  std::ifstream in(path, std::ios::binary);
  std::string content;
  std::array<char, 1 << 16> buffer{};
  // Read in pieces, so that a pipe or an endless file stops at the limit, not at bad_alloc.
  while (in.read(buffer.data(), buffer.size()) || in.gcount() > 0) {
    content.append(buffer.data(), static_cast<std::size_t>(in.gcount()));
    if (content.size() > max_bytes) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{} is larger than {} MiB, the limit for a text input", path.string(), max_bytes >> 20));
    }
  }
  if (in.bad()) {
    throw Error(ErrorCode::kIo, fmt::format("read error in {}: {}", path.string(), std::strerror(errno)));
  }
  return content;
}

std::optional<std::size_t> first_invalid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t extra = 0;
    uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      extra = 1;
      code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      code = c & 0x07;
    } else {
      return i;
    }
    if (i + extra >= text.size()) {
      return i;
    }
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) {
        return i;
      }
      code = (code << 6) | (next & 0x3F);
    }
    // Overlong forms, surrogates and code points above U+10FFFF are not UTF-8 either.
    const uint32_t lowest[] = {0, 0x80, 0x800, 0x10000};
    if (code < lowest[extra] || (code >= 0xD800 && code <= 0xDFFF) || code > 0x10FFFF) {
      return i;
    }
    i += extra + 1;
  }
  return std::nullopt;
}

fs::path partial_path_for(const fs::path& path) {
  fs::path partial = path;
  partial += ".partial";
  return partial;
}

void write_file_atomic(const fs::path& path, std::string_view content) {
  if (path.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
  }
  const fs::path partial = partial_path_for(path);
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    if (!out) {
      throw Error(ErrorCode::kIo, fmt::format("cannot write {}: {}", path.string(), std::strerror(errno)));
    }
    errno = 0;
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.flush();
    if (!out) {
      // errno names the cause (ENOSPC, EDQUOT, EIO); the stream itself only says that it failed.
      const int cause = errno;
      std::error_code ignored;
      fs::remove(partial, ignored);
      throw Error(ErrorCode::kIo, fmt::format("cannot write {}: {}", path.string(),
                                              cause != 0 ? std::strerror(cause) : "write error (disk full?)"));
    }
  }
  std::error_code ec;
  fs::rename(partial, path, ec);
  if (ec) {
    fs::remove(partial, ec);
    throw Error(ErrorCode::kIo, fmt::format("cannot move {} into place: {}", path.string(), ec.message()));
  }
}

RawFileWriter::RawFileWriter(const fs::path& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw Error(ErrorCode::kIo, fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  }
}

RawFileWriter::~RawFileWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void RawFileWriter::write(std::span<const char> bytes) {
  if (bytes.empty()) {
    return;
  }
  write_repeated(bytes, bytes.size());
}

void RawFileWriter::write_repeated(std::span<const char> pattern, std::size_t total_bytes) {
  if (total_bytes == 0) {
    return;
  }
  if (pattern.empty()) {
    throw Error(ErrorCode::kInternal,
                fmt::format("writing {}: an empty pattern cannot fill {} bytes", path_, total_bytes));
  }
  if (fd_ < 0) {
    throw Error(ErrorCode::kInternal, fmt::format("writing {} after it was closed", path_));
  }
  // Up to IOV_MAX views of the pattern per call; a short write resumes mid-pattern.
  constexpr std::size_t kMaxViews = 1024;
  std::vector<iovec> views;
  std::size_t offset = 0;  // bytes of the repeated stream already written
  while (offset < total_bytes) {
    views.clear();
    std::size_t at = offset % pattern.size();
    std::size_t planned = 0;
    while (views.size() < kMaxViews && offset + planned < total_bytes) {
      const std::size_t n = std::min(pattern.size() - at, total_bytes - offset - planned);
      views.push_back({.iov_base = const_cast<char*>(pattern.data() + at), .iov_len = n});
      planned += n;
      at = 0;
    }
    const ssize_t done = ::writev(fd_, views.data(), static_cast<int>(views.size()));
    if (done < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw Error(ErrorCode::kIo,
                  fmt::format("writing {} failed after {} bytes: {}", path_, written_, std::strerror(errno)));
    }
    offset += static_cast<std::size_t>(done);
    written_ += static_cast<uint64_t>(done);
  }
}

void RawFileWriter::pad_to(std::size_t alignment) {
  if (alignment == 0) {
    throw Error(ErrorCode::kInternal, fmt::format("writing {}: alignment 0", path_));
  }
  static constexpr char kZero = 0;
  write_repeated(std::span<const char>(&kZero, 1), (alignment - written_ % alignment) % alignment);
}

void RawFileWriter::close() {
  if (fd_ >= 0) {
    const int status = ::close(fd_);
    fd_ = -1;
    if (status != 0) {
      throw Error(ErrorCode::kIo, fmt::format("closing {} failed: {}", path_, std::strerror(errno)));
    }
  }
}

}  // namespace uaqf
