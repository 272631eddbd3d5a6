#include "server/http.h"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace tandem::server {
namespace {

bool is_tchar(char c) {  // RFC 9110 token characters
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Comma-separated list contains `token` (case-insensitive).
bool list_has(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    if (lower(item) == token) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

const std::string* HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return &v;
  return nullptr;
}

void HttpParser::reset() {
  req_ = HttpRequest();
  head_done_ = false;
  head_bytes_ = body_bytes_ = consumed_ = 0;
  chunked_ = in_trailers_ = false;
  chunk_pos_ = trailer_lines_ = 0;
  error_status_ = 0;
  error_message_.clear();
}

HttpParser::State HttpParser::fail(int status, std::string message) {
  error_status_ = status;
  error_message_ = std::move(message);
  return State::kError;
}

HttpParser::State HttpParser::parse(std::string_view data) {
  if (!head_done_) {
    // RFC 9112 2.2: ignore empty lines before the request line.
    size_t skip = 0;
    while (skip + 1 < data.size() && data[skip] == '\r' && data[skip + 1] == '\n') skip += 2;
    const size_t end = data.find("\r\n\r\n", skip);
    if (end == std::string_view::npos) {
      if (data.size() - skip > limits_.max_header_bytes)
        return fail(431, "request header is larger than " + std::to_string(limits_.max_header_bytes) +
                             " bytes");
      return State::kNeedMore;
    }
    if (end + 4 - skip > limits_.max_header_bytes)
      return fail(431, "request header is larger than " + std::to_string(limits_.max_header_bytes) +
                           " bytes");
    if (State s = parse_head(data.substr(skip, end + 2 - skip)); s == State::kError) return s;
    head_done_ = true;
    head_bytes_ = end + 4;
    if (chunked_) {
      chunk_pos_ = head_bytes_;
      const State st = parse_chunked(data);
      return st == State::kNeedMore ? State::kHeadersDone : st;
    }
    if (body_bytes_ > 0 && data.size() < head_bytes_ + body_bytes_) return State::kHeadersDone;
  }
  if (chunked_) return parse_chunked(data);
  if (data.size() < head_bytes_ + body_bytes_) return State::kNeedMore;
  req_.body.assign(data.substr(head_bytes_, body_bytes_));
  consumed_ = head_bytes_ + body_bytes_;
  return State::kDone;
}

// RFC 9112 7.1: chunk = size in hex [; extensions] CRLF data CRLF; the last
// chunk has size 0 and is followed by optional trailer lines and an empty
// line. Chunks decoded so far are kept in req_.body; chunk_pos_ marks where
// the next call resumes, so each byte is looked at about once.
HttpParser::State HttpParser::parse_chunked(std::string_view data) {
  constexpr size_t kMaxLine = 4096;  // a size line with extensions, or a trailer line
  for (;;) {
    // Framing can outweigh data (1-byte chunks): bound the bytes read so far
    // too. (A pending line or chunk adds at most kMaxLine or the body limit.)
    if (chunk_pos_ - head_bytes_ > 2 * limits_.max_body_bytes + 64 * 1024)
      return fail(413, "chunked request body framing is larger than the limit");
    const size_t eol = data.find("\r\n", chunk_pos_);
    if (eol == std::string_view::npos) {
      if (data.size() - chunk_pos_ > kMaxLine) return fail(400, "chunk size or trailer line is too long");
      return State::kNeedMore;
    }
    const std::string_view line = data.substr(chunk_pos_, eol - chunk_pos_);
    if (line.size() > kMaxLine) return fail(400, "chunk size or trailer line is too long");
    if (in_trailers_) {
      chunk_pos_ = eol + 2;
      if (line.empty()) {
        consumed_ = chunk_pos_;
        return State::kDone;
      }
      if (line.find(':') == std::string_view::npos || line.front() == ' ' || line.front() == '\t')
        return fail(400, "malformed trailer line");
      if (req_.headers.size() + ++trailer_lines_ > limits_.max_headers)
        return fail(431, "more than " + std::to_string(limits_.max_headers) + " header and trailer lines");
      continue;  // trailers are read and dropped, as RFC 9112 allows
    }
    const std::string_view hex = trim(line.substr(0, line.find(';')));
    if (hex.empty() || hex.size() > 15) return fail(400, "malformed chunk size");
    size_t size = 0;
    for (char c : hex) {
      int v;
      if (c >= '0' && c <= '9') v = c - '0';
      else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
      else return fail(400, "malformed chunk size");
      size = size * 16 + static_cast<size_t>(v);
    }
    if (size > limits_.max_body_bytes || req_.body.size() + size > limits_.max_body_bytes)
      return fail(413, "chunked request body is larger than the limit of " +
                           std::to_string(limits_.max_body_bytes) + " bytes");
    if (size == 0) {
      in_trailers_ = true;
      chunk_pos_ = eol + 2;
      continue;
    }
    const size_t data_begin = eol + 2;
    if (data.size() < data_begin + size + 2) return State::kNeedMore;
    if (data.substr(data_begin + size, 2) != "\r\n") return fail(400, "chunk data is not followed by CRLF");
    req_.body.append(data.substr(data_begin, size));
    chunk_pos_ = data_begin + size + 2;
  }
}

HttpParser::State HttpParser::parse_head(std::string_view head) {
  // Request line: METHOD SP target SP HTTP/1.x CRLF
  const size_t eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0 || sp2 == sp1 + 1)
    return fail(400, "malformed request line");
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!std::all_of(method.begin(), method.end(), is_tchar)) return fail(400, "malformed method");
  for (char c : target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return fail(400, "malformed request target");
  if (target.front() != '/' && target != "*") return fail(400, "request target must be an absolute path");
  if (version.size() != 8 || version.substr(0, 7) != "HTTP/1.") {
    if (version.size() == 8 && version.substr(0, 5) == "HTTP/" && version[6] == '.')
      return fail(505, "only HTTP/1.x is supported");
    return fail(400, "malformed HTTP version");
  }
  if (version[7] != '0' && version[7] != '1') return fail(505, "only HTTP/1.0 and HTTP/1.1 are supported");
  req_.method = method;
  req_.target = target;
  req_.path = target.substr(0, target.find('?'));
  req_.version_minor = version[7] - '0';

  bool has_length = false;
  std::string_view rest = head.substr(eol + 2);
  while (!rest.empty()) {
    const size_t e = rest.find("\r\n");
    std::string_view h = rest.substr(0, e);
    rest.remove_prefix(e + 2);
    if (h.empty()) continue;
    if (h.front() == ' ' || h.front() == '\t') return fail(400, "obsolete header line folding");
    const size_t colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail(400, "malformed header line");
    const std::string_view name = h.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), is_tchar)) return fail(400, "malformed header name");
    const std::string_view value = trim(h.substr(colon + 1));
    for (char c : value)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
        return fail(400, "control character in a header value");
    if (req_.headers.size() >= limits_.max_headers)
      return fail(431, "more than " + std::to_string(limits_.max_headers) + " header lines");
    req_.headers.emplace_back(lower(name), std::string(value));
    const std::string& n = req_.headers.back().first;
    if (n == "content-length") {
      if (value.empty() || value.size() > 18 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return fail(400, "malformed Content-Length");
      const size_t len = std::stoull(std::string(value));
      if (has_length && len != body_bytes_) return fail(400, "conflicting Content-Length headers");
      has_length = true;
      body_bytes_ = len;
    } else if (n == "transfer-encoding") {
      // Only "chunked" alone: other codings (gzip, ...) are not implemented.
      if (lower(value) != "chunked" || chunked_)
        return fail(501, "Transfer-Encoding '" + std::string(value) + "' is not supported; send chunked or Content-Length");
      chunked_ = true;
    }
  }
  // RFC 9112 6.1 / 6.3: both framings at once is how requests are smuggled.
  if (chunked_ && has_length) return fail(400, "request has both Transfer-Encoding and Content-Length");
  if (chunked_ && req_.version_minor == 0) return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
  if (req_.version_minor == 1 && !req_.header("host")) return fail(400, "HTTP/1.1 request without Host");
  if (body_bytes_ > limits_.max_body_bytes)
    return fail(413, "request body of " + std::to_string(body_bytes_) + " bytes is larger than the limit of " +
                         std::to_string(limits_.max_body_bytes));
  const std::string* conn = req_.header("connection");
  if (req_.version_minor == 0)
    req_.keep_alive = conn && list_has(*conn, "keep-alive");
  else
    req_.keep_alive = !(conn && list_has(*conn, "close"));
  if (const std::string* ex = req_.header("expect")) req_.expect_continue = lower(*ex) == "100-continue";
  return State::kHeadersDone;
}

const char* http_reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

namespace {
void append_status_line(std::string& out, int status) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "HTTP/1.1 %d %s\r\n", status, http_reason(status));
  out += buf;
}
}  // namespace

std::string http_response(int status, std::string_view content_type, std::string_view body,
                          bool keep_alive, std::string_view extra_headers) {
  std::string out;
  out.reserve(160 + body.size() + extra_headers.size());
  append_status_line(out, status);
  out += "Content-Type: ";
  out += content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(body.size());
  out += keep_alive ? "\r\nConnection: keep-alive\r\n" : "\r\nConnection: close\r\n";
  out += extra_headers;
  out += "\r\n";
  out += body;
  return out;
}

std::string http_stream_head(int status, std::string_view content_type, bool keep_alive,
                             std::string_view extra_headers) {
  std::string out;
  append_status_line(out, status);
  out += "Content-Type: ";
  out += content_type;
  out += "\r\nTransfer-Encoding: chunked\r\nCache-Control: no-cache\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  out += extra_headers;
  out += "\r\n";
  return out;
}

void http_append_chunk(std::string& out, std::string_view data) {
  if (data.empty()) return;
  char buf[24];
  std::snprintf(buf, sizeof buf, "%zx\r\n", data.size());
  out += buf;
  out += data;
  out += "\r\n";
}

std::string error_body(std::string_view message, std::string_view type, std::string_view param,
                       std::string_view code) {
  nlohmann::json e;
  e["message"] = message;
  e["type"] = type;
  e["param"] = param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param);
  e["code"] = code.empty() ? nlohmann::json(nullptr) : nlohmann::json(code);
  nlohmann::json j;
  j["error"] = std::move(e);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tandem::server
