#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend/openai/sse.h"

namespace uaqf::backend::openai {
namespace {

std::vector<std::string> data_of(const std::vector<SseEvent>& events) {
  std::vector<std::string> data;
  for (const auto& event : events) data.push_back(event.data);
  return data;
}

// Feeds `stream` in pieces of `piece` bytes and collects every event.
std::vector<SseEvent> feed_in_pieces(const std::string& stream, std::size_t piece) {
  SseParser parser;
  std::vector<SseEvent> events;
  for (std::size_t at = 0; at < stream.size(); at += piece) {
    for (auto& event : parser.feed(std::string_view(stream).substr(at, piece))) events.push_back(std::move(event));
  }
  return events;
}

TEST(Sse, OneEventPerBlankLine) {
  SseParser parser;
  const auto events = parser.feed("data: {\"a\":1}\n\ndata: [DONE]\n\n");
  EXPECT_EQ(data_of(events), (std::vector<std::string>{"{\"a\":1}", "[DONE]"}));
  EXPECT_EQ(events[0].event, "");
}

TEST(Sse, MultiLineDataJoinedWithNewline) {
  SseParser parser;
  const auto events = parser.feed("event: update\ndata: first\ndata:second\ndata\n\n");
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].event, "update");
  // One leading space is dropped ("data: first"), none added ("data:second"); a bare "data" is "".
  EXPECT_EQ(events[0].data, "first\nsecond\n");
}

TEST(Sse, CommentsAndUnknownFieldsIgnored) {
  SseParser parser;
  const auto events = parser.feed(":\n\n: keep-alive\nid: 7\nretry: 100\nfoo: bar\ndata: x\n\n");
  EXPECT_EQ(data_of(events), (std::vector<std::string>{"x"}));
}

TEST(Sse, BlankLineWithoutDataDispatchesNothing) {
  SseParser parser;
  // The event name of a data-less block does not leak into the next event.
  const auto events = parser.feed("event: ping\n\n\n\ndata: y\n\n");
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].event, "");
  EXPECT_EQ(events[0].data, "y");
}

TEST(Sse, EmptyDataLineIsAnEvent) {
  SseParser parser;
  const auto events = parser.feed("data:\n\n");
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].data, "");
}

TEST(Sse, CrLfAndCrLineEnds) {
  SseParser parser;
  EXPECT_EQ(data_of(parser.feed("data: a\r\n\r\ndata: b\r\rdata: c\n\r\n")), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(Sse, ValueKeepsLaterColonsAndSpaces) {
  SseParser parser;
  EXPECT_EQ(data_of(parser.feed("data:  two spaces: and a colon\n\n")),
            (std::vector<std::string>{" two spaces: and a colon"}));
}

TEST(Sse, EventsSplitAcrossFeedsAtEveryByte) {
  const std::string stream =
      "\xEF\xBB\xBF"
      "data: {\"x\": \"h\\u00e9\"}\r\n\r\n: ping\r\nevent: e\r\ndata: 1\r\ndata: 2\r\n\r\ndata: last\r\r";
  const std::vector<std::string> expected{"{\"x\": \"h\\u00e9\"}", "1\n2", "last"};
  for (std::size_t piece = 1; piece <= stream.size(); ++piece) {
    const auto events = feed_in_pieces(stream, piece);
    EXPECT_EQ(data_of(events), expected) << "pieces of " << piece;
    if (events.size() == 3) {
      EXPECT_EQ(events[1].event, "e");
    }
  }
}

TEST(Sse, CrAtTheEndOfOneFeedAndLfAtTheStartOfTheNext) {
  SseParser parser;
  EXPECT_TRUE(parser.feed("data: a\r").empty());
  // The LF completes the CR's line end; it is not a second (blank) line.
  EXPECT_TRUE(parser.feed("\n").empty());
  EXPECT_EQ(data_of(parser.feed("\r\n")), (std::vector<std::string>{"a"}));
}

TEST(Sse, IncompleteEventIsHeldBack) {
  SseParser parser;
  EXPECT_TRUE(parser.feed("data: part").empty());
  EXPECT_TRUE(parser.feed("ial\n").empty());
  EXPECT_EQ(data_of(parser.feed("\n")), (std::vector<std::string>{"partial"}));
}

TEST(Sse, FeedEachReusesItsEvent) {
  SseParser parser;
  std::vector<std::string> seen;
  parser.feed_each("data: a\n\ndata: b\n\n", [&](SseEvent& event) { seen.push_back(event.data); });
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace uaqf::backend::openai
