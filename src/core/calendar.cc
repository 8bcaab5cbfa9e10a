// The calendar types of value.h: Timestamp (an instant), DateTime (a wall-clock
// date and time without a zone), Date and TimeOfDay. One strict parser for
// the text forms; nothing is ever adjusted into range (see value.h).
#include <fmt/format.h>

#include "tandem/value.h"

namespace tandem {

namespace {

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

bool parse_fixed(std::string_view s, size_t pos, size_t len, int64_t& out) {
  if (pos + len > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + len; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

int64_t days_in_month(int64_t year, unsigned month) {
  static constexpr int64_t kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

constexpr int64_t kMicrosPerDay = 86400LL * 1000000;

// The parts of "HH:MM:SS[.ffffff]" at pos; returns the position after, or an
// error. hour may be 24 only when the rest is zero (checked by the caller).
struct Clock {
  int64_t hour = 0, minute = 0, second = 0, micros = 0;
};
Result<size_t> parse_clock(std::string_view s, size_t pos, Clock& c, std::string_view whole) {
  if (!parse_fixed(s, pos, 2, c.hour) || s.size() < pos + 8 || s[pos + 2] != ':' ||
      !parse_fixed(s, pos + 3, 2, c.minute) || s[pos + 5] != ':' || !parse_fixed(s, pos + 6, 2, c.second)) {
    return Status::InvalidArgument("");
  }
  pos += 8;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 6) {
        c.micros = c.micros * 10 + (s[pos] - '0');
      } else if (s[pos] != '0') {
        return Status::InvalidArgument(
            fmt::format("'{}' has more than 6 fraction digits: tandem keeps microseconds and would round it",
                        whole.substr(0, 64)));
      }
      ++digits;
      ++pos;
    }
    if (digits == 0) return Status::InvalidArgument("");
    for (int i = digits; i < 6; ++i) c.micros *= 10;
  }
  if (c.minute > 59 || c.second > 59) return Status::InvalidArgument("");
  return pos;
}

// "YYYY-MM-DD" at the start of s: days since 1970-01-01, or an error naming
// the calendar rule (no day the month lacks, no zero date, years 1-9999).
Result<int64_t> parse_day(std::string_view s, std::string_view whole) {
  int64_t year = 0, month = 0, day = 0;
  if (!parse_fixed(s, 0, 4, year) || s.size() < 10 || s[4] != '-' || !parse_fixed(s, 5, 2, month) ||
      s[7] != '-' || !parse_fixed(s, 8, 2, day)) {
    return Status::InvalidArgument("");
  }
  if (year < 1 || month < 1 || month > 12 || day < 1 ||
      day > days_in_month(year, static_cast<unsigned>(month))) {
    return Status::InvalidArgument(fmt::format(
        "'{}' is not a date of the calendar (year 0001 to 9999, a month's own days; no zero date)",
        whole.substr(0, 64)));
  }
  return days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
}

// An error from the helpers above with no message of its own is a syntax error.
Status syntax_or(const Status& s, std::string_view text, std::string_view what, std::string_view example) {
  if (!s.message().empty()) return s;
  return Status::InvalidArgument(
      fmt::format("'{}' is not {} (expected e.g. {})", text.substr(0, 64), what, example));
}

// Writes "YYYY-MM-DD" of a day count into buf (10 characters).
void put_day(char* buf, int64_t days) {
  int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  auto put = [buf](size_t at, int64_t v, size_t width) {
    for (size_t i = width; i > 0; --i, v /= 10) buf[at + i - 1] = static_cast<char>('0' + v % 10);
  };
  put(0, y, 4);
  buf[4] = '-';
  put(5, m, 2);
  buf[7] = '-';
  put(8, d, 2);
}

// Writes "HH:MM:SS.ffffff" of micros after midnight into buf (15 characters).
void put_clock(char* buf, int64_t micros) {
  auto put = [buf](size_t at, int64_t v, size_t width) {
    for (size_t i = width; i > 0; --i, v /= 10) buf[at + i - 1] = static_cast<char>('0' + v % 10);
  };
  int64_t secs = micros / 1000000;
  put(0, secs / 3600, 2);
  buf[2] = ':';
  put(3, (secs % 3600) / 60, 2);
  buf[5] = ':';
  put(6, secs % 60, 2);
  buf[8] = '.';
  put(9, micros % 1000000, 6);
}

// Splits micros since the epoch into whole days and micros into the day.
void split_micros(int64_t micros, int64_t& days, int64_t& in_day) {
  days = micros / kMicrosPerDay;
  in_day = micros % kMicrosPerDay;
  if (in_day < 0) {
    in_day += kMicrosPerDay;
    days -= 1;
  }
}

// The text of an instant or a wall-clock time: "YYYY-MM-DDTHH:MM:SS.ffffff",
// followed by zone ("Z" or nothing).
std::string date_time_text(int64_t micros, std::string_view zone) {
  int64_t days = 0, in_day = 0;
  split_micros(micros, days, in_day);
  int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  if (y < 1 || y > 9999) {  // only in messages about a value out of range
    int64_t secs = in_day / 1000000;
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}{}", y, m, d, secs / 3600,
                       (secs % 3600) / 60, secs % 60, in_day % 1000000, zone);
  }
  // By hand: every copied timestamp passes here.
  char buf[26];
  put_day(buf, days);
  buf[10] = 'T';
  put_clock(buf + 11, in_day);
  std::string out(buf, sizeof buf);
  out += zone;
  return out;
}

// Date and optional time of day at the start of s, then (if allowed) a zone.
struct DateTimeText {
  int64_t micros = 0;  // as if UTC, before the offset
  int64_t offset_minutes = 0;
  bool zone = false;
};
Result<DateTimeText> parse_date_time(std::string_view s, bool zone_allowed, std::string_view what,
                                     std::string_view example) {
  DateTimeText out;
  Result<int64_t> days = parse_day(s, s);
  if (!days.ok()) return syntax_or(days.status(), s, what, example);
  size_t pos = 10;
  Clock c;
  if (pos < s.size() && (s[pos] == 'T' || s[pos] == ' ')) {
    Result<size_t> end = parse_clock(s, pos + 1, c, s);
    if (!end.ok()) return syntax_or(end.status(), s, what, example);
    if (c.hour > 23) return syntax_or(Status::InvalidArgument(""), s, what, example);
    pos = *end;
  }
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z' || s[pos] == '+' || s[pos] == '-')) {
    out.zone = true;
    if (s[pos] == 'Z' || s[pos] == 'z') {
      ++pos;
    } else {
      int64_t oh = 0, om = 0;
      int sign = s[pos] == '-' ? -1 : 1;
      if (!parse_fixed(s, pos + 1, 2, oh)) return syntax_or(Status::InvalidArgument(""), s, what, example);
      size_t mpos = pos + 3;
      if (mpos < s.size() && s[mpos] == ':') ++mpos;
      if (mpos < s.size()) {
        if (!parse_fixed(s, mpos, 2, om)) return syntax_or(Status::InvalidArgument(""), s, what, example);
        mpos += 2;
      }
      if (oh > 23 || om > 59) return syntax_or(Status::InvalidArgument(""), s, what, example);
      out.offset_minutes = sign * (oh * 60 + om);
      pos = mpos;
    }
    if (!zone_allowed) {
      return Status::InvalidArgument(
          fmt::format("'{}' names a time zone, but a {} has none: use type timestamp for an instant",
                      s.substr(0, 64), what.substr(what.find(' ') + 1)));
    }
  }
  if (pos != s.size()) return syntax_or(Status::InvalidArgument(""), s, what, example);
  out.micros = *days * kMicrosPerDay + ((c.hour * 60 + c.minute) * 60 + c.second) * 1000000 + c.micros;
  return out;
}

}  // namespace

Result<Timestamp> Timestamp::parse(std::string_view s) {
  TANDEM_ASSIGN_OR_RETURN(DateTimeText t, parse_date_time(s, /*zone_allowed=*/true, "a timestamp",
                                                          "2024-05-01T12:00:00.123456Z"));
  Timestamp out{t.micros - t.offset_minutes * 60 * 1000000};
  if (!out.in_range()) {
    return Status::InvalidArgument(fmt::format(
        "'{}' is outside 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z once in UTC", s.substr(0, 64)));
  }
  return out;
}

std::string Timestamp::to_string() const { return date_time_text(micros, "Z"); }

Result<DateTime> DateTime::parse(std::string_view s) {
  TANDEM_ASSIGN_OR_RETURN(
      DateTimeText t, parse_date_time(s, /*zone_allowed=*/false, "a datetime", "2024-05-01 12:00:00.123456"));
  return DateTime{t.micros};  // a parsed day is in range, and so is any time of it
}

std::string DateTime::to_string() const { return date_time_text(micros, ""); }

Result<Date> Date::parse(std::string_view s) {
  Result<int64_t> days = parse_day(s, s);
  if (!days.ok() || s.size() != 10) {
    return syntax_or(days.ok() ? Status::InvalidArgument("") : days.status(), s, "a date", "2024-05-01");
  }
  return Date{static_cast<int32_t>(*days)};
}

std::string Date::to_string() const {
  if (!in_range()) return fmt::format("{} days from 1970-01-01", days);  // only in messages
  char buf[10];
  put_day(buf, days);
  return {buf, sizeof buf};
}

Result<TimeOfDay> TimeOfDay::parse(std::string_view s) {
  Clock c;
  Result<size_t> end = parse_clock(s, 0, c, s);
  if (!end.ok() || *end != s.size()) {
    return syntax_or(end.ok() ? Status::InvalidArgument("") : end.status(), s, "a time of day",
                     "12:00:00.123456");
  }
  TimeOfDay out{((c.hour * 60 + c.minute) * 60 + c.second) * 1000000 + c.micros};
  if (!out.in_range()) {
    return Status::InvalidArgument(
        fmt::format("'{}' is not a time of day (00:00:00 to 24:00:00)", s.substr(0, 64)));
  }
  return out;
}

std::string TimeOfDay::to_string() const {
  if (!in_range()) return fmt::format("{}us", micros);  // never written: stores refuse it first
  char buf[15];
  put_clock(buf, micros);
  return {buf, sizeof buf};
}

Result<Value> parse_calendar(Type type, std::string_view text) {
  switch (type) {
    case Type::kDate: {
      TANDEM_ASSIGN_OR_RETURN(Date d, Date::parse(text));
      return Value(d);
    }
    case Type::kTime: {
      TANDEM_ASSIGN_OR_RETURN(TimeOfDay t, TimeOfDay::parse(text));
      return Value(t);
    }
    case Type::kDateTime: {
      TANDEM_ASSIGN_OR_RETURN(DateTime t, DateTime::parse(text));
      return Value(t);
    }
    case Type::kTimestamp: {
      TANDEM_ASSIGN_OR_RETURN(Timestamp t, Timestamp::parse(text));
      return Value(t);
    }
    default:
      return Status::InvalidArgument(fmt::format("{} is not a calendar type", type_name(type)));
  }
}

Status check_calendar_range(const Value& v) {
  bool ok = true;
  switch (v.type()) {
    case Type::kTimestamp:
      ok = v.as<Timestamp>().in_range();
      break;
    case Type::kDateTime:
      ok = v.as<DateTime>().in_range();
      break;
    case Type::kDate:
      ok = v.as<Date>().in_range();
      break;
    case Type::kTime:
      ok = v.as<TimeOfDay>().in_range();
      break;
    default:
      break;
  }
  if (ok) return Status::Ok();
  return Status::InvalidArgument(fmt::format(
      "{} {} is outside the range tandem writes and reads back ({})", type_name(v.type()), v.to_display(),
      v.type() == Type::kTime ? "00:00:00 to 24:00:00" : "0001-01-01 to 9999-12-31"));
}

}  // namespace tandem
