// HTTP/1.1 messages: an incremental request parser with size limits, and the
// response framing the server writes (fixed-length bodies and chunked
// streams). No sockets here, so every byte sequence can be tested directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tandem::server {

struct HttpLimits {
  size_t max_header_bytes = 16 * 1024;       // request line + headers, CRLFs included
  size_t max_body_bytes = 4 * 1024 * 1024;   // Content-Length (or decoded chunked body) above this: 413
  size_t max_headers = 100;                  // header lines
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ... (case-sensitive, as sent)
  std::string target;  // "/v1/models?x=1"
  std::string path;    // target without the query
  int version_minor = 1;  // HTTP/1.<minor>
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, values trimmed
  std::string body;
  bool keep_alive = true;       // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with keep-alive
  bool expect_continue = false; // "Expect: 100-continue"

  // The first header with this (lower-case) name, or nullptr.
  const std::string* header(std::string_view name) const;
};

// Parses one request at a time from a growing byte buffer.
class HttpParser {
 public:
  enum class State { kNeedMore, kHeadersDone, kDone, kError };
  explicit HttpParser(HttpLimits limits = {}) : limits_(limits) {}

  // Looks at `data` (all bytes received and not yet consumed). Returns:
  //  kNeedMore     incomplete; call again with more bytes;
  //  kHeadersDone  headers complete, body still missing (request() has the
  //                headers: answer "Expect: 100-continue" now); call again;
  //  kDone         request() is complete; consumed() bytes belong to it;
  //  kError        error_status() (400, 413, 431, 501, 505) and error_message().
  // After kDone or kError, reset() before parsing the next request.
  State parse(std::string_view data);
  void reset();

  const HttpRequest& request() const { return req_; }
  HttpRequest take_request() { return std::move(req_); }
  size_t consumed() const { return consumed_; }
  int error_status() const { return error_status_; }
  const std::string& error_message() const { return error_message_; }

 private:
  State fail(int status, std::string message);
  State parse_head(std::string_view head);
  // Decodes "Transfer-Encoding: chunked" body bytes from data[chunk_pos_..).
  State parse_chunked(std::string_view data);

  HttpLimits limits_;
  HttpRequest req_;
  bool head_done_ = false;
  size_t head_bytes_ = 0;
  size_t body_bytes_ = 0;
  bool chunked_ = false;
  bool in_trailers_ = false;  // chunked: the last chunk was read, trailer lines follow
  size_t chunk_pos_ = 0;      // chunked: offset in the data of the next unread line or chunk
  size_t trailer_lines_ = 0;
  size_t consumed_ = 0;
  int error_status_ = 0;
  std::string error_message_;
};

const char* http_reason(int status);

// A complete response with Content-Length. `extra_headers`: "Name: value\r\n" lines.
std::string http_response(int status, std::string_view content_type, std::string_view body,
                          bool keep_alive, std::string_view extra_headers = {});
// Head of a chunked streaming response (Transfer-Encoding: chunked).
std::string http_stream_head(int status, std::string_view content_type, bool keep_alive,
                             std::string_view extra_headers = {});
// One chunk of a chunked body (empty data writes nothing), and the last chunk.
void http_append_chunk(std::string& out, std::string_view data);
inline constexpr std::string_view kHttpLastChunk = "0\r\n\r\n";

// {"error": {"message", "type", "param", "code"}} (OpenAI's error object);
// empty param / code are written as null.
std::string error_body(std::string_view message, std::string_view type, std::string_view param = {},
                       std::string_view code = {});

}  // namespace tandem::server
