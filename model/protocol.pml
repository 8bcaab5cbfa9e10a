/*
 * tandem's copy protocol for one record, checked exhaustively by spin.
 *
 * Old starts with version 1 of the record; new is empty. Instance A still
 * routes by old-only for one write, then acknowledges dual-write; instance B
 * routes by dual-write from the start. A may or may not write again at
 * dual-write. Each write goes to old (the write
 * primary), then the write-secondary sync copies old's *current* state into
 * new under new's record lock (a delete leaves a tombstone). The backfill waits
 * until every instance has acknowledged dual-write, reads old without a lock,
 * then try-locks the record in new and inserts only if new has neither the
 * record nor a tombstone.
 *
 * Property checked at quiescence: new equals old (same version, or both
 * without the record), unless A's old-only write came after a dual-write
 * write of the same record (the switch window below). A deleted
 * record never comes back, since "both without the record" is part of equality.
 *
 * The switch window: instance B (dual-write) writes the record and copies it
 * to new, while or after which instance A (still old-only) updates it in old
 * only; the backfill later finds it present in new and skips it. Acknowledging steps cannot prevent this;
 * the mandatory clean verify before step 4 (which new reads) finds it, and
 * `tandem verify --repair` fixes it. The ghost variable `window` marks it.
 *
 * Variants, each of which spin must refute (scripts/check_model.sh):
 *   -DNO_WINDOW_EXCUSE     the property without the switch-window exception
 *   -DBROKEN_NO_TOMBSTONE  a delete leaves no tombstone in new
 *   -DBROKEN_UPSERT        the backfill overwrites instead of insert-if-absent
 *   -DBROKEN_REPLAY        the write-secondary sync replays the caller's write
 *                          instead of copying old's current state under the lock
 */

byte old_v = 1;       /* 0: no record; else the version */
byte new_v = 0;
bool new_tomb = false;
byte lock_new = 0;    /* 0: free; else the holder */
bool acked = false;   /* every instance routes by dual-write */
bool dual = false;    /* ghost: a dual-write instance has written old */
bool window = false;  /* ghost: an old-only write came after such a write */
byte finished = 0;

/* Write-secondary sync of the write that set old to `mine`. */
inline sync(me, mine) {
  atomic { lock_new == 0 -> lock_new = me };
#ifdef BROKEN_REPLAY
  cur = mine;
#else
  cur = old_v;  /* read the write primary only once the lock is held */
#endif
  if
  :: cur != 0 -> new_v = cur; new_tomb = false
  :: else ->
     new_v = 0;
#ifndef BROKEN_NO_TOMBSTONE
     new_tomb = true
#else
     skip
#endif
  fi;
  lock_new = 0
}

proctype InstanceA() {
  byte cur;
  /* One write while still routing by old-only: old only, no copy. */
  if
  :: atomic { old_v = 2; window = window || dual }
  :: atomic { old_v = 0; window = window || dual }
  :: skip
  fi;
  acked = true;  /* acknowledged only after that write returned */
  /* Perhaps one write at dual-write (in production it may never write this record again). */
  if
  :: atomic { old_v = 3; dual = true }; sync(1, 3)
  :: atomic { old_v = 0; dual = true }; sync(1, 0)
  :: skip
  fi;
  finished++
}

proctype InstanceB() {
  byte cur;
  if
  :: atomic { old_v = 4; dual = true }; sync(2, 4)
  :: atomic { old_v = 0; dual = true }; sync(2, 0)
  fi;
  finished++
}

proctype Backfill() {
  byte seen;
  acked;         /* starts only when every instance writes new */
  seen = old_v;  /* read a batch from old, no lock */
  if
  :: seen != 0 ->
     if
     :: atomic { lock_new == 0 -> lock_new = 3 };
        if
        :: new_tomb -> skip   /* deleted through tandem meanwhile */
#ifdef BROKEN_UPSERT
        :: else -> new_v = seen
#else
        :: new_v != 0 -> skip  /* present: the live path wrote it */
        :: new_v == 0 && !new_tomb -> new_v = seen
#endif
        fi;
        lock_new = 0
     :: atomic { lock_new != 0 -> skip }  /* locked: the live path has it */
     fi
  :: else -> skip
  fi;
  finished++
}

init {
  atomic { run InstanceA(); run InstanceB(); run Backfill() };
  finished == 3;
#ifdef NO_WINDOW_EXCUSE
  assert(new_v == old_v);  /* refuted: the switch window is real (see above) */
#else
  assert(window || new_v == old_v);
#endif
}
