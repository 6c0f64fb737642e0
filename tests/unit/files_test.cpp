#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/files.h"

namespace uaqf {
namespace {

namespace fs = std::filesystem;

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt_name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  static std::string fmt_name() {
    return std::string("uaqf-files-test-") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }
  fs::path dir_;
};

TEST_F(FilesTest, Sha256OfKnownContent) {
  write_file_atomic(dir_ / "abc.txt", "abc");
  // FIPS 180-2 test vector for "abc".
  EXPECT_EQ(sha256_file(dir_ / "abc.txt"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(FilesTest, AtomicWriteLeavesNoPartialFile) {
  write_file_atomic(dir_ / "out.json", "{}");
  EXPECT_TRUE(fs::exists(dir_ / "out.json"));
  EXPECT_FALSE(fs::exists(dir_ / "out.json.partial"));
  EXPECT_EQ(read_text_file(dir_ / "out.json"), "{}");
}

TEST_F(FilesTest, MissingFileIsNotFound) {
  try {
    require_readable_file(dir_ / "nope.gguf", "model");
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(error.what()).find("model file not found"), std::string::npos);
  }
}

TEST_F(FilesTest, FolderIsNotAFile) { EXPECT_THROW(require_readable_file(dir_, "model"), Error); }

TEST_F(FilesTest, UnwritableFolderIsReported) {
  // A path below a regular file can never be created, even as root.
  write_file_atomic(dir_ / "file", "x");
  EXPECT_THROW(require_writable_dir(dir_ / "file" / "sub", "output"), Error);
}

TEST_F(FilesTest, RawWriterRepeatsAPatternPastManyWritevCalls) {
  // 7-byte pattern: 5000 copies need several writev calls of 1024 views, and the total ends
  // mid-pattern.
  const std::string pattern = "abcdefg";
  const std::size_t total = pattern.size() * 5000 + 3;
  RawFileWriter writer(dir_ / "tiled.bin");
  writer.write(std::span<const char>("head", 4));
  writer.write_repeated(pattern, total);
  writer.write(std::span<const char>("tail", 4));
  writer.close();
  EXPECT_EQ(writer.bytes_written(), total + 8);
  std::string expected = "head";
  while (expected.size() < 4 + total) {
    expected += pattern;
  }
  expected.resize(4 + total);
  expected += "tail";
  EXPECT_EQ(read_text_file(dir_ / "tiled.bin"), expected);
}

TEST_F(FilesTest, RawWriterPadsToAlignmentsLargerThanAnyBuffer) {
  RawFileWriter writer(dir_ / "padded.bin");
  writer.write(std::span<const char>("abc", 3));
  writer.pad_to(4096);  // GGUF files may ask for any general.alignment
  EXPECT_EQ(writer.bytes_written(), 4096U);
  writer.pad_to(4096);  // already aligned: nothing
  writer.write(std::span<const char>("d", 1));
  writer.pad_to(32);
  writer.close();
  EXPECT_EQ(writer.bytes_written(), 4096U + 32U);
  const std::string content = read_text_file(dir_ / "padded.bin");
  ASSERT_EQ(content.size(), 4096U + 32U);
  EXPECT_EQ(content.substr(0, 3), "abc");
  EXPECT_EQ(content.find_first_not_of('\0', 3), 4096U);
  EXPECT_EQ(content[4096], 'd');
  EXPECT_EQ(content.find_first_not_of('\0', 4097), std::string::npos);
}

TEST_F(FilesTest, RawWriterNamesAFileItCannotCreate) {
  try {
    RawFileWriter writer(dir_ / "missing-folder" / "out.bin");
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(error.what()).find("missing-folder"), std::string::npos);
  }
}

}  // namespace
}  // namespace uaqf
