#include "tandem/verify.h"

#include <fmt/format.h>

#include <future>
#include <map>
#include <set>
#include <thread>

#include "core/logging.h"
#include "router/relation_copy.h"
#include "tandem/config.h"
#include "tandem/control_store.h"
#include "tandem/migration.h"
#include "tandem/operator_tools.h"
#include "tandem/store.h"
#include "verify/verify_hashed.h"
#include "verify/verify_internal.h"

namespace tandem {

std::string_view difference_kind_name(DifferenceKind kind) {
  switch (kind) {
    case DifferenceKind::kMissing:
      return "missing";
    case DifferenceKind::kExtra:
      return "extra";
    case DifferenceKind::kDifferent:
      return "different";
    case DifferenceKind::kResurrected:
      return "resurrected";
  }
  return "unknown";
}

namespace verify_internal {

std::optional<Difference> classify(const Key& key, const Record* source, const Record* copy,
                                   bool tombstoned) {
  std::optional<DifferenceKind> kind;
  if (source != nullptr && copy == nullptr) {
    kind = DifferenceKind::kMissing;
  } else if (source == nullptr && copy != nullptr) {
    kind = tombstoned ? DifferenceKind::kResurrected : DifferenceKind::kExtra;
  } else if (source != nullptr && copy != nullptr) {
    if (*source != *copy) {
      kind = DifferenceKind::kDifferent;
    } else if (tombstoned) {
      kind = DifferenceKind::kResurrected;
    }
  }
  if (!kind) return std::nullopt;
  return Difference{key, *kind, source != nullptr ? source->to_display() : "(absent)",
                    copy != nullptr ? copy->to_display() : "(absent)", false};
}

std::string id_or_spelling(const KeyIdentity* identity, const Key& key) {
  Result<std::string> id = identity_of(identity, key);
  return id.ok() ? std::move(*id) : key.encode();
}

Status on_both_sides(const std::function<Status()>& source, const std::function<Status()>& copy) {
  auto on_copy = std::async(std::launch::async, copy);
  Status s = source();
  Status c = on_copy.get();
  TANDEM_RETURN_IF_ERROR(s);
  return c;
}

}  // namespace verify_internal

namespace {

using SteadyClock = std::chrono::steady_clock;

using verify_internal::classify;
using verify_internal::id_or_spelling;

class CollectionVerifier {
 public:
  CollectionVerifier(Migration& m, const CollectionSchema& schema, Side source, const VerifyOptions& o)
      : m_(m),
        schema_(schema),
        source_side_(source),
        o_(o),
        source_(OperatorTools(m).store(source)),
        copy_(OperatorTools(m).store(other_side(source))),
        new_(OperatorTools(m).store(Side::kNew)) {}

  Result<CollectionVerify> run() {
    auto started = SteadyClock::now();
    out_.collection = schema_.name;
    out_.source = source_side_;
    if (verify_uses_hashed(source_, copy_, schema_.name, o_.hashed)) {
      // Forced, or the two sides order keys differently: a range would hold
      // different records on each (verify_hashed.h).
      out_.mode = "hashed";
      HashedVerifyOptions hashed;
      hashed.group_records = std::max<size_t>(o_.hashed_group_records, 1);
      TANDEM_RETURN_IF_ERROR(verify_hashed(source_, copy_, schema_, hashed, out_, candidates_));
      TANDEM_RETURN_IF_ERROR(find_resurrected(KeyRange::all()));
    } else {
      out_.mode = "ranges";
      TANDEM_RETURN_IF_ERROR(check_ranges());
    }
    // Differences seen once may be writes in flight: look again under the
    // copy's record lock, a few times, and keep only what persists.
    for (int attempt = 0; attempt < o_.rechecks && !candidates_.empty(); ++attempt) {
      std::this_thread::sleep_for(o_.recheck_delay);
      std::map<Key, Difference> still;
      for (auto& [key, d] : candidates_) {
        TANDEM_ASSIGN_OR_RETURN(std::optional<Difference> again, compare_key(key));
        if (again) still.emplace(key, std::move(*again));
      }
      candidates_.swap(still);
    }
    TANDEM_RETURN_IF_ERROR(leave_out_quarantined());
    for (auto& [key, d] : candidates_) {
      switch (d.kind) {
        case DifferenceKind::kMissing:
          ++out_.missing;
          break;
        case DifferenceKind::kExtra:
          ++out_.extra;
          break;
        case DifferenceKind::kDifferent:
          ++out_.different;
          break;
        case DifferenceKind::kResurrected:
          ++out_.resurrected;
          break;
      }
    }
    out_.remaining = static_cast<int64_t>(candidates_.size());
    if (o_.repair) TANDEM_RETURN_IF_ERROR(repair());
    for (auto& [key, d] : candidates_) {
      if (out_.differences.size() >= o_.max_listed) break;
      out_.differences.push_back(std::move(d));
    }
    out_.seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();
    return out_;
  }

 private:
  Status check_ranges() {
    TANDEM_ASSIGN_OR_RETURN(std::vector<Key> splits,
                            source_.split_points(schema_.name, KeyRange::all(), o_.ranges));
    std::optional<Key> begin;
    for (Key& k : splits) {
      TANDEM_RETURN_IF_ERROR(check(KeyRange{begin, k}));
      TANDEM_RETURN_IF_ERROR(find_resurrected(KeyRange{begin, k}));
      begin = std::move(k);
    }
    TANDEM_RETURN_IF_ERROR(check(KeyRange{begin, std::nullopt}));
    TANDEM_RETURN_IF_ERROR(find_resurrected(KeyRange{begin, std::nullopt}));
    return recheck_suspects();
  }

  // The range's digests on both sides: computed by both databases when they
  // can (only counts and hashes cross the network), else by tandem from the
  // rows. Both sides at once: they are different databases (stores are
  // thread-safe).
  Result<std::pair<Digest, Digest>> digests(const KeyRange& range) {
    Digest a, b;
    auto copy_portable =
        std::async(std::launch::async, [&] { return copy_.portable_digest(schema_.name, range); });
    Result<std::optional<Digest>> pa = source_.portable_digest(schema_.name, range);
    Result<std::optional<Digest>> pb = copy_portable.get();
    TANDEM_RETURN_IF_ERROR(pa.status());
    if (*pa) TANDEM_RETURN_IF_ERROR(pb.status());
    if (*pa && pb.ok() && *pb) {
      a = **pa;
      b = **pb;
    } else {
      auto copy_digest = std::async(std::launch::async, [&] { return copy_.digest(schema_.name, range); });
      Result<Digest> da = source_.digest(schema_.name, range);
      Result<Digest> db = copy_digest.get();
      TANDEM_ASSIGN_OR_RETURN(a, std::move(da));
      TANDEM_ASSIGN_OR_RETURN(b, std::move(db));
    }
    return std::make_pair(a, b);
  }

  // Equal digests, and no row of the copy that fails to decode (a row of new
  // that holds no value tandem accepts differs, whatever old holds).
  static bool same(const Digest& a, const Digest& b) { return a == b && b.undecodable == 0; }

  Status check(const KeyRange& range) {
    ++out_.ranges_checked;
    TANDEM_ASSIGN_OR_RETURN(auto both, digests(range));
    const auto& [a, b] = both;
    if (same(a, b)) {
      out_.records += static_cast<int64_t>(a.count);
      out_.undecodable += static_cast<int64_t>(a.undecodable);
      return Status::Ok();
    }
    ++out_.ranges_mismatched;
    if (std::max(a.count, b.count) > o_.leaf_records) {
      Store& splitter = a.count >= b.count ? source_ : copy_;
      TANDEM_ASSIGN_OR_RETURN(std::vector<Key> mid, splitter.split_points(schema_.name, range, 2));
      if (!mid.empty() && (!range.begin || *range.begin < mid[0])) {
        TANDEM_RETURN_IF_ERROR(check(KeyRange{range.begin, mid[0], range.begin_inclusive}));
        return check(KeyRange{mid[0], range.end});
      }
    }
    TANDEM_ASSIGN_OR_RETURN(bool explained, diff_records(range, /*tally=*/true));
    if (!explained) suspects_.push_back(range);
    return Status::Ok();
  }

  // A range whose digests differ while no record does may be a write in
  // flight between the two digests: look again a few times, and count it as
  // unexplained only if it stays so.
  Status recheck_suspects() {
    for (const KeyRange& range : suspects_) {
      bool resolved = false;
      for (int attempt = 0; attempt < o_.rechecks && !resolved; ++attempt) {
        std::this_thread::sleep_for(o_.recheck_delay);
        TANDEM_ASSIGN_OR_RETURN(auto both, digests(range));
        if (same(both.first, both.second)) {
          resolved = true;
        } else {
          TANDEM_ASSIGN_OR_RETURN(resolved, diff_records(range, /*tally=*/false));
        }
      }
      if (resolved) continue;
      ++out_.unexplained;
      if (out_.unexplained_ranges.size() < 100) out_.unexplained_ranges.push_back(range.to_display());
      logging::warn(
          "verify of '{}': range {} has different digests on the two sides but no record differs: a "
          "difference only the databases' own text shows",
          schema_.name, range.to_display());
    }
    return Status::Ok();
  }

  // A row in the copy under a tombstone was written behind tandem's back
  // (upsert clears a tombstone, remove deletes the row). Tombstones are few
  // next to rows: read their keys, then look them up in the copy in batches.
  Status find_resurrected(const KeyRange& range) {
    KeyRange next = range;
    for (;;) {
      TANDEM_ASSIGN_OR_RETURN(std::vector<Key> dead, copy_.tombstones(schema_.name, next, 1000));
      if (dead.empty()) return Status::Ok();
      TANDEM_ASSIGN_OR_RETURN(std::vector<Lookup> found, copy_.get_many(schema_.name, dead));
      for (Lookup& l : found) {
        if (!l.present() || candidates_.contains(l.record.key)) continue;
        TANDEM_ASSIGN_OR_RETURN(Lookup s, source_.get(schema_.name, l.record.key));
        Key key = l.record.key;
        candidates_[key] =
            Difference{key, DifferenceKind::kResurrected, s.present() ? s.record.to_display() : "(absent)",
                       l.record.to_display(), false};
      }
      if (dead.size() < 1000) return Status::Ok();
      next = KeyRange::after(dead.back(), range.end);
    }
  }

  // Reads both sides of a small range and compares record by record. The
  // digests differed, so something must explain it: a difference, or rows
  // that do not decode; returns whether something did (if not, the range is
  // a suspect: the digests saw what the records hide). With tally, the
  // source's records and undecodable rows are counted in the report.
  Result<bool> diff_records(const KeyRange& range, bool tally) {
    std::map<Key, Record> src, cpy;
    std::vector<BadRecord> src_bad, cpy_bad;
    TANDEM_RETURN_IF_ERROR(read_all(source_, range, src, src_bad));
    TANDEM_RETURN_IF_ERROR(read_all(copy_, range, cpy, cpy_bad));
    merge_by_identity(src, cpy);
    if (tally) {
      out_.records += static_cast<int64_t>(src.size());
      out_.undecodable += static_cast<int64_t>(src_bad.size());
    }
    TANDEM_ASSIGN_OR_RETURN(std::set<std::string> dead, dead_ids(range));
    const std::shared_ptr<const KeyIdentity> identity = copy_.key_identity(schema_.name);
    std::set<Key> keys;
    for (const auto& [k, r] : src) keys.insert(k);
    for (const auto& [k, r] : cpy) keys.insert(k);
    size_t found = 0;
    for (const Key& k : keys) {
      auto s = src.find(k);
      auto c = cpy.find(k);
      const std::string id = id_or_spelling(identity.get(), k);
      std::optional<Difference> d = classify(k, s == src.end() ? nullptr : &s->second,
                                             c == cpy.end() ? nullptr : &c->second, dead.contains(id));
      if (d) {
        candidates_[k] = std::move(*d);
        ++found;
      }
    }
    // A row of the copy that does not decode differs from whatever the
    // source holds: the copy holds no value tandem accepted.
    for (BadRecord& b : cpy_bad) {
      if (!b.key) continue;
      auto s = src.find(*b.key);
      candidates_[*b.key] =
          Difference{*b.key, s == src.end() ? DifferenceKind::kExtra : DifferenceKind::kDifferent,
                     s == src.end() ? "(absent)" : s->second.to_display(),
                     fmt::format("does not decode: {}", b.reason), false};
      ++found;
    }
    // A source row that does not decode explains a mismatch (it is in the
    // quarantine); a copy row whose key does not decode explains nothing.
    return found > 0 || !src_bad.empty();
  }

  // Under a collation a record is its identity (tandem/key_identity.h): a copy
  // row spelled otherwise than the source's row of the same identity is that
  // record, spelled differently (kDifferent), not one missing and one extra.
  void merge_by_identity(const std::map<Key, Record>& src, std::map<Key, Record>& cpy) const {
    std::shared_ptr<const KeyIdentity> identity = source_.key_identity(schema_.name);
    if (!identity || !identity->collated()) return;
    std::map<std::string, Key> by_id;
    for (const auto& [k, r] : src) {
      if (auto id = identity->id(k); id.ok()) by_id.emplace(std::move(*id), k);
    }
    std::map<Key, Record> merged;
    for (auto& [k, r] : cpy) {
      auto id = identity->id(k);
      auto it = id.ok() ? by_id.find(*id) : by_id.end();
      merged.emplace(it == by_id.end() ? k : it->second, std::move(r));
    }
    cpy = std::move(merged);
  }

  // The copy's tombstones in range, as identities (encodings for byte keys).
  // Under a collation a tombstone's spelling may sort outside the range its
  // record falls in: every tombstone of the collection is read.
  Result<std::set<std::string>> dead_ids(const KeyRange& range) {
    std::shared_ptr<const KeyIdentity> identity = copy_.key_identity(schema_.name);
    const bool collated = identity && identity->collated();
    TANDEM_ASSIGN_OR_RETURN(std::vector<Key> dead,
                            copy_.tombstones(schema_.name, collated ? KeyRange::all() : range, SIZE_MAX));
    std::set<std::string> out;
    for (const Key& k : dead) out.insert(id_or_spelling(identity.get(), k));
    return out;
  }

  Status read_all(Store& store, const KeyRange& range, std::map<Key, Record>& into,
                  std::vector<BadRecord>& bad) {
    KeyRange next = range;
    for (;;) {
      TANDEM_ASSIGN_OR_RETURN(ScanBatch batch, store.scan_batch(schema_.name, next, 1000));
      for (Record& r : batch.records) into.emplace(r.key, std::move(r));
      for (BadRecord& b : batch.bad) bad.push_back(std::move(b));
      if (batch.end_of_range || !batch.last_key) return Status::Ok();
      next = KeyRange::after(*batch.last_key, range.end);
    }
  }

  // Compares one key on both sides, under new's record lock (the one every
  // copy of the key holds, see copy_record.h) so that no copier is half-way
  // through it.
  Result<std::optional<Difference>> compare_key(const Key& key) {
    TANDEM_ASSIGN_OR_RETURN(RecordLock lock, new_.lock(schema_.name, key, m_.config().lock_timeout));
    Result<Lookup> sr = source_.get(schema_.name, key);
    // A source record that does not decode is the quarantine's business.
    if (!sr.ok() && sr.status().code() == Code::kCorruption) return std::optional<Difference>();
    TANDEM_ASSIGN_OR_RETURN(Lookup s, std::move(sr));
    Result<Lookup> cr = copy_.get(schema_.name, key);
    if (!cr.ok() && cr.status().code() == Code::kCorruption) {
      return std::optional<Difference>(
          Difference{key, DifferenceKind::kDifferent, s.present() ? s.record.to_display() : "(absent)",
                     fmt::format("does not decode: {}", cr.status().message()), false});
    }
    TANDEM_ASSIGN_OR_RETURN(Lookup c, std::move(cr));
    bool tombstone = false;
    if (auto identity = copy_.key_identity(schema_.name); identity && identity->collated()) {
      TANDEM_ASSIGN_OR_RETURN(std::set<std::string> dead, dead_ids(KeyRange::all()));
      tombstone = dead.contains(id_or_spelling(identity.get(), key));
    } else {
      TANDEM_ASSIGN_OR_RETURN(std::vector<Key> dead,
                              copy_.tombstones(schema_.name, KeyRange{key, std::nullopt}, 1));
      tombstone = !dead.empty() && dead[0] == key;
    }
    return classify(key, s.present() ? &s.record : nullptr, c.present() ? &c.record : nullptr, tombstone);
  }

  // A record missing from the copy because the backfill quarantined it (new
  // cannot hold it exactly, or it does not convert) is the quarantine's
  // business, as a source row that does not decode is: counted apart, so that
  // verify can pass while the operator deals with the quarantine.
  Status leave_out_quarantined() {
    // A record of the copy that the source cannot identify (old's 'José'
    // beside a PostgreSQL new that holds printable ASCII keys only, at a
    // step where new is the source): the source can never hold it, so it
    // is the quarantine's business, never removed by --repair.
    if (auto identity = source_.key_identity(schema_.name); identity && identity->collated()) {
      for (auto it = candidates_.begin(); it != candidates_.end();) {
        if (it->second.kind == DifferenceKind::kExtra && !identity->id(it->first).ok()) {
          ++out_.quarantined;
          it = candidates_.erase(it);
        } else {
          ++it;
        }
      }
    }
    bool any_missing = false;
    for (const auto& [key, d] : candidates_) any_missing = any_missing || d.kind == DifferenceKind::kMissing;
    if (!any_missing) return Status::Ok();
    TANDEM_ASSIGN_OR_RETURN(std::vector<QuarantineEntry> entries,
                            OperatorTools(m_).control().quarantine(static_cast<size_t>(INT64_MAX)));
    std::set<std::string> quarantined;
    for (QuarantineEntry& e : entries) {
      if (e.collection == schema_.name && !e.key.empty()) quarantined.insert(std::move(e.key));
    }
    for (auto it = candidates_.begin(); it != candidates_.end();) {
      if (it->second.kind == DifferenceKind::kMissing && quarantined.contains(it->first.encode())) {
        ++out_.quarantined;
        it = candidates_.erase(it);
      } else {
        ++it;
      }
    }
    return Status::Ok();
  }

  Status repair() {
    int64_t repaired = 0;
    for (auto& [key, d] : candidates_) {
      // The source's current version wins; a record absent there is removed
      // from the copy, leaving (or keeping) its tombstone.
      // With the children relations make it carry (router/relation_copy.h).
      const Config& config = m_.config();
      Status s = copy_with_relations(
          source_, copy_, new_, m_.relations(),
          [&config](std::string_view n) { return config.find_collection(n); }, schema_.name, key, nullptr,
          RelationCopyOptions{config.lock_timeout, SIZE_MAX, {}});
      if (!s.ok()) {
        logging::warn("verify --repair of '{}' record {}: {}", schema_.name, key.to_display(), s.to_string());
        continue;
      }
      TANDEM_ASSIGN_OR_RETURN(std::optional<Difference> again, compare_key(key));
      if (!again) {
        d.repaired = true;
        ++repaired;
      }
    }
    out_.repaired = repaired;
    out_.remaining -= repaired;
    return Status::Ok();
  }

  Migration& m_;
  const CollectionSchema& schema_;
  Side source_side_;
  const VerifyOptions& o_;
  Store& source_;
  Store& copy_;
  Store& new_;  // holds the record locks (see copy_record.h)
  CollectionVerify out_;
  std::map<Key, Difference> candidates_;
  std::vector<KeyRange> suspects_;  // digests differ, no record explained it (yet)
};

}  // namespace

Result<VerifyReport> run_verify(Migration& migration, const VerifyOptions& options) {
  TANDEM_ASSIGN_OR_RETURN(StepState current, OperatorTools(migration).control().current_step());
  const Step& step = migration.plan().at(current.step_index);
  // --repair copies by the step read here: new refuses a copy once its role
  // changed at a later version (a move during the verify; tandem/store.h).
  FenceScope fence({current.version, new_role_at(step)});
  VerifyReport report;
  TANDEM_ASSIGN_OR_RETURN(std::vector<const CollectionSchema*> schemas,
                          migration.config().select_collections(options.collections));
  for (const CollectionSchema* schema : schemas) {
    CollectionVerifier v(migration, *schema, step.write_primary, options);
    auto result = v.run();
    if (!result.ok()) return result.status().with_context(fmt::format("verify of '{}'", schema->name));
    TANDEM_RETURN_IF_ERROR(count_orphans(migration, step.write_primary, *result));
    VerifyRun run{0,
                  schema->name,
                  now_micros(),
                  current.version,
                  result->clean(),
                  result->records,
                  result->missing,
                  result->extra,
                  result->different,
                  result->resurrected,
                  result->seconds};
    TANDEM_RETURN_IF_ERROR(OperatorTools(migration).control().record_verify(run));
    report.collections.push_back(std::move(*result));
  }
  return report;
}

}  // namespace tandem
