// A small JSON reader for the execution plan and metadata embedded in exported modules. It reads
// standard JSON (UTF-8 strings with \uXXXX escapes, numbers, nested arrays and objects); a syntax
// error reports the byte offset. The runtime has no other JSON dependency.
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "runtime_internal.h"

namespace tessel_rt {

namespace {

class JsonParser {
 public:
  JsonParser(const std::string& text, const char* what) : text_(text), what_(what) {}

  JsonValue parse_document() {
    JsonValue value = parse_value(0);
    skip_space();
    if (pos_ != text_.size()) fail("trailing characters");
    return value;
  }

 private:
  [[noreturn]] void fail(const char* problem) const {
    throw RuntimeError(TESSEL_ERROR_CORRUPT_MODULE, std::string("malformed ") + what_ + ": " + problem +
                                                        " at byte " + std::to_string(pos_));
  }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool consume(const char* word) {
    size_t n = std::char_traits<char>::length(word);
    if (text_.compare(pos_, n, word) != 0) return false;
    pos_ += n;
    return true;
  }

  JsonValue parse_value(int depth) {
    if (depth > 64) fail("nesting too deep");
    skip_space();
    if (pos_ >= text_.size()) fail("unexpected end");
    JsonValue value;
    char c = text_[pos_];
    if (c == '{') {
      value.kind = JsonValue::Kind::kObject;
      ++pos_;
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == '}') return ++pos_, value;
      while (true) {
        skip_space();
        if (pos_ >= text_.size() || text_[pos_] != '"') fail("expected a key");
        std::string key = parse_string();
        skip_space();
        if (pos_ >= text_.size() || text_[pos_++] != ':') fail("expected ':'");
        value.object[key] = parse_value(depth + 1);
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == ',') { ++pos_; continue; }
        if (pos_ < text_.size() && text_[pos_] == '}') { ++pos_; return value; }
        fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      value.kind = JsonValue::Kind::kArray;
      ++pos_;
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == ']') return ++pos_, value;
      while (true) {
        value.array.push_back(parse_value(depth + 1));
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == ',') { ++pos_; continue; }
        if (pos_ < text_.size() && text_[pos_] == ']') { ++pos_; return value; }
        fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      value.kind = JsonValue::Kind::kString;
      value.string = parse_string();
      return value;
    }
    if (consume("true")) { value.kind = JsonValue::Kind::kBool; value.boolean = true; return value; }
    if (consume("false")) { value.kind = JsonValue::Kind::kBool; return value; }
    if (consume("null")) return value;
    return parse_number();
  }

  JsonValue parse_number() {
    size_t start = pos_;
    if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
    bool integral = true;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (std::isdigit(static_cast<unsigned char>(c))) { ++pos_; continue; }
      if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') { integral = false; ++pos_; continue; }
      break;
    }
    std::string token = text_.substr(start, pos_ - start);
    if (token.empty() || token == "-") fail("expected a value");
    JsonValue value;
    value.kind = JsonValue::Kind::kNumber;
    char* end = nullptr;
    value.number = std::strtod(token.c_str(), &end);
    if (end != token.c_str() + token.size()) fail("bad number");
    value.integer = integral ? std::strtoll(token.c_str(), nullptr, 10) : static_cast<int64_t>(value.number);
    return value;
  }

  void append_utf8(std::string& out, uint32_t code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  uint32_t parse_hex4() {
    if (pos_ + 4 > text_.size()) fail("short \\u escape");
    uint32_t code = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_++];
      code <<= 4;
      if (c >= '0' && c <= '9') code |= c - '0';
      else if (c >= 'a' && c <= 'f') code |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') code |= c - 'A' + 10;
      else fail("bad \\u escape");
    }
    return code;
  }

  std::string parse_string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) fail("unterminated string");
      char c = text_[pos_++];
      if (c == '"') return out;
      if (c != '\\') { out += c; continue; }
      if (pos_ >= text_.size()) fail("unterminated escape");
      char e = text_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t code = parse_hex4();
          if (code >= 0xD800 && code < 0xDC00 && text_.compare(pos_, 2, "\\u") == 0) {
            pos_ += 2;
            uint32_t low = parse_hex4();
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, code);
          break;
        }
        default: fail("bad escape");
      }
    }
  }

  const std::string& text_;
  const char* what_;
  size_t pos_ = 0;
};

[[noreturn]] void wrong_kind(const char* what, const char* expected) {
  throw RuntimeError(TESSEL_ERROR_CORRUPT_MODULE, std::string("module plan: ") + what + " is not " + expected);
}

}  // namespace

JsonValue parse_json(const std::string& text, const char* what) { return JsonParser(text, what).parse_document(); }

const JsonValue& JsonValue::at(const std::string& key) const {
  if (kind != Kind::kObject) wrong_kind(key.c_str(), "inside an object");
  auto it = object.find(key);
  TESSEL_RT_CHECK(it != object.end(), TESSEL_ERROR_CORRUPT_MODULE) << "module plan: missing field '" << key << "'";
  return it->second;
}

int64_t JsonValue::as_int(const char* what) const {
  if (kind != Kind::kNumber || static_cast<double>(integer) != number) wrong_kind(what, "an integer");
  return integer;
}

const std::string& JsonValue::as_string(const char* what) const {
  if (kind != Kind::kString) wrong_kind(what, "a string");
  return string;
}

const std::vector<JsonValue>& JsonValue::as_array(const char* what) const {
  if (kind != Kind::kArray) wrong_kind(what, "an array");
  return array;
}

}  // namespace tessel_rt
