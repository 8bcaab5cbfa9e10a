#include "verify/verify_hashed.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <set>
#include <vector>

#include "core/encoding.h"
#include "core/logging.h"
#include "tandem/key_identity.h"
#include "verify/verify_internal.h"

namespace tandem {

bool verify_uses_hashed(const Store& source, const Store& copy, std::string_view collection, bool forced) {
  if (forced) return true;
  std::shared_ptr<const KeyIdentity> a = source.key_identity(collection);
  std::shared_ptr<const KeyIdentity> b = copy.key_identity(collection);
  return a && b && a->collated() && b->collated() && a->digest() != b->digest();
}

namespace {

// One bucket of pass 1, per side: the records whose identity hashes to it.
struct Bucket {
  uint64_t count = 0;
  uint64_t sum = 0;  // of record_hash, modulo 2^64: order-independent
  uint64_t bad = 0;  // rows of the copy that do not decode (their key does)
};

// What one side's pass 1 saw outside the buckets.
struct SideTotals {
  uint64_t records = 0;
  uint64_t bad = 0;      // rows that do not decode
  uint64_t keyless = 0;  // of which the key does not decode either
};

// Pass 2's records of one group of buckets, by identity.
struct SideRecords {
  std::map<std::string, Record> records;
  std::vector<std::pair<std::string, Record>> duplicates;  // a second record of an identity (copy only)
  std::vector<std::pair<std::string, BadRecord>> bad;      // rows that do not decode, with a key
};

// The identity that covers more keys: the source's, unless it is a
// narrowed one (a PostgreSQL new's, tandem/key_identity.h) and the copy's is
// old's: then a record of old outside what new holds still gets a bucket of
// its own identity.
std::shared_ptr<const KeyIdentity> wider(std::shared_ptr<const KeyIdentity> source,
                                         std::shared_ptr<const KeyIdentity> copy) {
  if (!source || !copy || !copy->collated()) return source;
  for (const auto& c : source->columns()) {
    if (c && !c->base_digest().empty()) return copy;
  }
  return source;
}

class HashedVerifier {
 public:
  HashedVerifier(Store& source, Store& copy, const CollectionSchema& schema, const HashedVerifyOptions& o,
                 CollectionVerify& out, std::map<Key, Difference>& candidates)
      : source_(source),
        copy_(copy),
        schema_(schema),
        o_(o),
        buckets_(std::max<size_t>(o.buckets, 1)),
        identity_(wider(source.key_identity(schema.name), copy.key_identity(schema.name))),
        out_(out),
        candidates_(candidates) {}

  Status run() {
    // Pass 1: both sides at once (different databases; stores are
    // thread-safe), each read in its own order.
    std::vector<Bucket> src(buckets_), cpy(buckets_);
    SideTotals src_totals, cpy_totals;
    TANDEM_RETURN_IF_ERROR(verify_internal::on_both_sides([&] { return summarize(source_, src, src_totals); },
                                                          [&] { return summarize(copy_, cpy, cpy_totals); }));
    out_.records += static_cast<int64_t>(src_totals.records);
    out_.undecodable += static_cast<int64_t>(src_totals.bad);
    out_.ranges_checked += static_cast<int64_t>(buckets_);
    if (cpy_totals.keyless > 0) {
      // No key names the row: nothing to re-check or repair.
      ++out_.unexplained;
      out_.unexplained_ranges.push_back(
          fmt::format("{} row(s) of the copy whose key does not decode", cpy_totals.keyless));
      logging::warn("verify of '{}': {} row(s) of the copy have a key that does not decode", schema_.name,
                    cpy_totals.keyless);
    }

    std::vector<size_t> mismatched;
    for (size_t i = 0; i < buckets_; ++i) {
      if (src[i].count != cpy[i].count || src[i].sum != cpy[i].sum || cpy[i].bad > 0) mismatched.push_back(i);
    }
    out_.ranges_mismatched += static_cast<int64_t>(mismatched.size());
    if (mismatched.empty()) return Status::Ok();

    TANDEM_RETURN_IF_ERROR(read_dead());
    // Pass 2, in groups of buckets holding at most group_records records
    // (a single bucket may hold more).
    std::vector<bool> in_group(buckets_, false);
    std::vector<size_t> group;
    uint64_t held = 0;
    auto flush = [&]() -> Status {
      if (group.empty()) return Status::Ok();
      for (size_t b : group) in_group[b] = true;
      Status st = compare_group(in_group);
      for (size_t b : group) in_group[b] = false;
      group.clear();
      held = 0;
      return st;
    };
    for (size_t b : mismatched) {
      uint64_t weight = std::max(src[b].count, cpy[b].count + cpy[b].bad);
      if (!group.empty() && held + weight > o_.group_records) TANDEM_RETURN_IF_ERROR(flush());
      group.push_back(b);
      held += weight;
    }
    return flush();
  }

 private:
  // The identity of key under the source's collation; its encoding when it
  // has none there (a copy's key outside old's repertoire).
  std::string identity(const Key& key) const { return verify_internal::id_or_spelling(identity_.get(), key); }
  size_t bucket_of(const std::string& id) const { return hash_bytes(id) % buckets_; }

  // Every row of store, in the store's order, paging as verify's range mode
  // does.
  Status scan(Store& store, const std::function<void(Record&)>& on_record,
              const std::function<void(BadRecord&)>& on_bad) {
    KeyRange next = KeyRange::all();
    for (;;) {
      TANDEM_ASSIGN_OR_RETURN(ScanBatch batch, store.scan_batch(schema_.name, next, o_.batch));
      for (Record& r : batch.records) on_record(r);
      for (BadRecord& b : batch.bad) on_bad(b);
      if (batch.end_of_range || !batch.last_key) return Status::Ok();
      next = KeyRange::after(*batch.last_key, std::nullopt);
    }
  }

  Status summarize(Store& store, std::vector<Bucket>& buckets, SideTotals& totals) {
    return scan(
        store,
        [&](Record& r) {
          Bucket& b = buckets[bucket_of(identity(r.key))];
          ++b.count;
          b.sum += record_hash(schema_, r);
          ++totals.records;
        },
        [&](BadRecord& bad) {
          ++totals.bad;
          if (!bad.key) {
            ++totals.keyless;
          } else {
            ++buckets[bucket_of(identity(*bad.key))].bad;
          }
        });
  }

  Status collect(Store& store, const std::vector<bool>& in_group, SideRecords& into) {
    return scan(
        store,
        [&](Record& r) {
          std::string id = identity(r.key);
          if (!in_group[bucket_of(id)]) return;
          if (into.records.contains(id)) {
            into.duplicates.emplace_back(std::move(id), std::move(r));
          } else {
            into.records.emplace(std::move(id), std::move(r));
          }
        },
        [&](BadRecord& bad) {
          if (!bad.key) return;
          std::string id = identity(*bad.key);
          if (in_group[bucket_of(id)]) into.bad.emplace_back(std::move(id), std::move(bad));
        });
  }

  // The copy's tombstones, as identities under the source's collation (the
  // identity every record is bucketed by).
  Status read_dead() {
    TANDEM_ASSIGN_OR_RETURN(std::vector<Key> dead, copy_.tombstones(schema_.name, KeyRange::all(), SIZE_MAX));
    for (const Key& k : dead) dead_.insert(identity(k));
    return Status::Ok();
  }

  void add(std::optional<Difference> d) {
    if (!d) return;
    Key key = d->key;
    candidates_[key] = std::move(*d);
  }

  // Reads both sides' records of the buckets in group and compares them by
  // identity. A bucket whose records all agree now had a write in flight
  // during pass 1: this read is the later one.
  Status compare_group(const std::vector<bool>& in_group) {
    SideRecords src, cpy;
    TANDEM_RETURN_IF_ERROR(verify_internal::on_both_sides([&] { return collect(source_, in_group, src); },
                                                          [&] { return collect(copy_, in_group, cpy); }));
    std::set<std::string> ids;
    for (const auto& [id, r] : src.records) ids.insert(id);
    for (const auto& [id, r] : cpy.records) ids.insert(id);
    for (const std::string& id : ids) {
      auto si = src.records.find(id);
      auto ci = cpy.records.find(id);
      const Record* sr = si == src.records.end() ? nullptr : &si->second;
      const Record* cr = ci == cpy.records.end() ? nullptr : &ci->second;
      add(verify_internal::classify(sr != nullptr ? sr->key : cr->key, sr, cr, dead_.contains(id)));
    }
    // The copy holds two rows of one identity (its key tells spellings
    // apart): the second one is a record the source does not have.
    for (const auto& [id, r] : cpy.duplicates) {
      add(verify_internal::classify(r.key, nullptr, &r, dead_.contains(id)));
    }
    // A row of the copy that does not decode differs from whatever the
    // source holds: the copy holds no value tandem accepted.
    for (const auto& [id, b] : cpy.bad) {
      auto si = src.records.find(id);
      const bool in_source = si != src.records.end();
      Key key = in_source ? si->second.key : *b.key;
      candidates_[key] = Difference{key, in_source ? DifferenceKind::kDifferent : DifferenceKind::kExtra,
                                    in_source ? si->second.to_display() : "(absent)",
                                    fmt::format("does not decode: {}", b.reason), false};
    }
    return Status::Ok();
  }

  Store& source_;
  Store& copy_;
  const CollectionSchema& schema_;
  const HashedVerifyOptions& o_;
  const size_t buckets_;
  const std::shared_ptr<const KeyIdentity> identity_;  // the source's: null for byte keys
  CollectionVerify& out_;
  std::map<Key, Difference>& candidates_;
  std::set<std::string> dead_;
};

}  // namespace

Status verify_hashed(Store& source, Store& copy, const CollectionSchema& schema,
                     const HashedVerifyOptions& options, CollectionVerify& out,
                     std::map<Key, Difference>& candidates) {
  return HashedVerifier(source, copy, schema, options, out, candidates).run();
}

}  // namespace tandem
