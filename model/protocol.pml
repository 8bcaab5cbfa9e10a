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
 * Scenario 2 (init picks one scenario; spin explores both): a stale
 * instance across the moves 4 -> 5 -> 6. One record, whose fields are bits,
 * is in old and new alike; every write is a patch of its own field, applied
 * by a write primary to its own copy of the record (so copying a stale record
 * over a newer one loses a field). Instance S routes by the step it last
 * applied (4) and may be paused anywhere: while paused its lease may expire,
 * and once awake its refresh may renew the lease on the current step. Its
 * patch checks the lease on entering, again right before writing the write
 * primary, and again once its copy into the write secondary holds new's
 * record lock; it may be paused after each check, so a write past its last
 * check may land after any number of moves. Old cannot refuse it (no table
 * of tandem's there); new can: new's fence holds the step at which new's
 * role last changed, every write into new carries the step its operation
 * entered, and new refuses an older one (a newer one with another role
 * raises the fence first). A failed copy check or a refused copy queues a
 * repair (copy the *current* write primary into the other database, under
 * new's lock) and reports an unknown outcome; a refused write primary fails. Instance N is never paused; it patches once at step 4 or 6. The
 * mover moves when every instance acknowledged the current step or its lease
 * expired, never while a repair is pending. Every copy takes new's record lock
 * and reads the source's current record under it.
 *
 * Property checked once repairs drained: every acknowledged field is in the
 * current write primary (no lost write; a stale copy never overwrote new's
 * newer record), and while there is a write secondary it equals the write
 * primary; unless an operation at step 4 was still in flight after the move
 * to 5 while a step-5 patch or a repair wrote the record (the 4 -> 5 window:
 * two write primaries; the ghost `window45` marks it).
 *
 * Variants, each of which spin must refute (scripts/check_model.sh):
 *   -DNO_WINDOW_EXCUSE     the property without the switch-window exception
 *   -DBROKEN_NO_TOMBSTONE  a delete leaves no tombstone in new
 *   -DBROKEN_UPSERT        the backfill overwrites instead of insert-if-absent
 *   -DBROKEN_REPLAY        the write-secondary sync replays the caller's write
 *                          instead of copying old's current state under the lock
 *   -DNO_WINDOW45_EXCUSE   scenario 2 without the 4 -> 5 window exception
 *   -DBROKEN_NO_LEASE -DBROKEN_NO_FENCE  no lease checks and no fence: S
 *                          routes by its old step after waking (the lost
 *                          write of issue 15: paused at 4, it wakes after
 *                          moves to 5 and 6 and copies old's stale record
 *                          over new)
 *   -DBROKEN_LEASE_AGE_ONLY -DBROKEN_NO_FENCE  the lease check looks only at
 *                          the lease's age, not at the step it was renewed
 *                          on: a refresh after the pause renews it on step 6
 *                          and S's step-4 patch passes
 * and the fence alone must hold (-DBROKEN_NO_LEASE holds): for this property
 * new's fence suffices; the lease bounds what the fence cannot reach (writes
 * into old, which the model allows to land late, and reads).
 *   -DBROKEN_COPY_NO_LOCK  copies read and write without new's record lock
 *   -DBROKEN_NO_FENCE      new does not fence: S's copy, past its last lease
 *                          check, lands after the moves to 5 and 6 and copies
 *                          old's stale record over N's write in new
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

/* ---- Scenario 2: a stale instance across the moves 4 -> 5 -> 6 ----------- */

byte step = 4;         /* the migration's current step */
byte old_r = 1;        /* the record in old and new: a set of fields (bits);  */
byte new_r = 1;        /* bit 1 was there before, bit 2 is S's, bit 4 is N's  */
byte acked_bits = 1;   /* ghost: fields of the record acknowledged to callers */
bool s_lease = true;   /* S's lease (the instance's CLOCK_BOOTTIME view)      */
byte s_applied = 4;    /* the step S routes by, and the one its lease is on   */
byte s_ack = 4;        /* the step S acknowledged in its heartbeat            */
byte s_op = 0;         /* the step S's operation entered (0: none in flight)  */
byte n_op = 0;         /* the step N's operation entered (0: none in flight)  */
byte repairs = 0;      /* repairs queued and not yet drained */
bool window45 = false; /* ghost: a patch landed in one write primary while an
                         operation of the other step (4 or 5) was in flight */
#define W45 window45 = window45 || (n_op == 4 && s_op == 5)

#define WP_OLD(st) ((st) <= 4)
#define HAS_WS(st) ((st) <= 5)

/* New's fence: the step at which new's role (write secondary at 4, write
 * primary from 5) last changed, as the first write by that role set it. A
 * write into new routed by step op is refused if op is older; if newer with
 * another role it raises the fence. Steps only grow here, so a step is its
 * version. */
byte fence_v = 4;
#ifdef BROKEN_NO_FENCE
#define FENCE_OK(op) true
#else
#define FENCE_OK(op) ((op) >= fence_v)
#endif
#define RAISE(op) if :: (op) > fence_v && WP_OLD(op) != WP_OLD(fence_v) -> fence_v = (op) :: else -> skip fi

/* S's lease check: its lease holds and was taken on the step the operation
 * entered. BROKEN_LEASE_AGE_ONLY checks only the lease's age; BROKEN_NO_LEASE
 * checks nothing (the instance routes by its last step, as before leases). */
#if defined(BROKEN_NO_LEASE)
#define LEASE_OK true
#elif defined(BROKEN_LEASE_AGE_ONLY)
#define LEASE_OK s_lease
#else
#define LEASE_OK (s_lease && s_applied == s_op)
#endif

/* The record lock in new: every copy (write-secondary sync, repair) holds
 * it and reads the source's current record under it. */
#ifdef BROKEN_COPY_NO_LOCK
#define LOCK(me) skip
#define UNLOCK skip
#else
#define LOCK(me) atomic { lock_new == 0 -> lock_new = me }
#define UNLOCK lock_new = 0
#endif

/* Copy the current record of the write primary of step st into the other
 * (into new only through the fence: refused sets fenced). */
inline copy(st, me) {
  if
  :: WP_OLD(st) -> cur = old_r;
                   atomic { if :: FENCE_OK(st) -> RAISE(st); new_r = cur :: else -> fenced = true fi }
  :: else -> cur = new_r; old_r = cur
  fi
}

/* S is paused here (a GC pause, SIGSTOP, a VM stall): its lease may expire,
 * and once awake its refresh may renew the lease on the current step (and
 * acknowledge it only if no operation still routes by an earlier one). */
inline pause() {
  if
  :: skip
  :: s_lease = false;
     if
     :: skip
     :: atomic {
          s_lease = true; s_applied = step;
          if :: s_op == 0 || s_op == step -> s_ack = step :: else -> skip fi
        }
     fi
  fi
}

proctype Repair() {
  byte cur;
  bool fenced = false;
  /* Copies the CURRENT write primary into the other database, under the lock.
   * Moves are refused while a repair is pending, so the step is stable. */
  LOCK(7);
  atomic { copy(step, 7); window45 = window45 || (n_op == 4 && step >= 5) };
  UNLOCK;
  repairs--
}

/* S: one patch (field 2) by the step it routes by, paused anywhere. */
proctype Stale() {
  byte cur;
  bool fenced = false;
  pause();
  atomic { s_op = s_applied; if :: LEASE_OK -> skip :: else -> s_op = 0; goto done fi };  /* check 1 */
  pause();
  atomic { if :: LEASE_OK -> skip :: else -> s_op = 0; goto done fi };  /* check 2, before writing WP */
  pause();  /* past its last check: old cannot refuse this write, it may land after moves */
  if
  :: WP_OLD(s_op) -> atomic { old_r = old_r | 2; W45 }
  :: else ->
     atomic {
       if
       :: FENCE_OK(s_op) -> RAISE(s_op); new_r = new_r | 2; W45
       :: else -> s_op = 0; goto done  /* refused by new: nothing written, the call fails */
       fi
     }
  fi;
  pause();
  if
  :: HAS_WS(s_op) ->
     LOCK(5);
     atomic {
       if
       :: LEASE_OK -> skip  /* check 3, once it holds the lock (CopyFence) */
       :: else ->  /* no copy by a stale step: repair, unknown outcome */
          UNLOCK; repairs++; run Repair(); s_op = 0; goto done
       fi
     };
     pause();  /* past its last check: only new's fence stands between it and new */
     copy(s_op, 5);
     if
     :: fenced -> atomic { UNLOCK; repairs++; run Repair(); s_op = 0 }; goto done
     :: else -> UNLOCK
     fi
  :: else -> skip
  fi;
  atomic { acked_bits = acked_bits | 2; s_op = 0 };
done:
  finished++
}

/* N: an instance that is never paused; one patch (field 4) at step 4 or 6
 * (at step 5 only S patches: S renewed on 5 while N's step-4 patch is in
 * flight already shows the 4 -> 5 window). */
proctype Current() {
  byte cur;
  bool fenced = false;
  if
  :: atomic { step == 4 -> n_op = 4 }
  :: atomic { step == 6 -> n_op = 6 }
  :: skip
  fi;
  if
  :: n_op != 0 ->
     if
     :: WP_OLD(n_op) -> atomic { old_r = old_r | 4; W45 }
     :: else -> atomic { RAISE(n_op); new_r = new_r | 4; W45 }  /* current: never refused */
     fi;
     if
     :: HAS_WS(n_op) ->
        LOCK(6);
        copy(n_op, 6);  /* refused if S raised the fence at 5 meanwhile (the 4 -> 5 window) */
        if
        :: fenced -> atomic { UNLOCK; repairs++; run Repair(); n_op = 0 }; goto ndone
        :: else -> UNLOCK
        fi
     :: else -> skip
     fi;
     atomic { acked_bits = acked_bits | 4; n_op = 0 }
  :: else -> skip
  fi;
ndone:
  finished++
}

/* The mover: a move needs every live instance to have acknowledged the
 * current step, or its lease to have expired (certainly: S's lease lapses
 * only while S is paused, and S then takes no step); none while a repair is
 * pending; N acknowledges a step once no operation of its routes by an
 * earlier one. */
proctype Mover() {
  do
  :: atomic { step < 6 && (s_ack == step || !s_lease) && (n_op == 0 || n_op == step) &&
              repairs == 0 -> step++ }
  :: break
  od;
  finished++
}

init {
  if
  :: atomic { run InstanceA(); run InstanceB(); run Backfill() };
     finished == 3;
#ifdef NO_WINDOW_EXCUSE
     assert(new_v == old_v);  /* refuted: the switch window is real (see above) */
#else
     assert(window || new_v == old_v);
#endif
  :: atomic { run Stale(); run Current(); run Mover() };
     finished == 3 && repairs == 0;
     /* No lost write: every acknowledged field is in the current write
      * primary (a stale copy never overwrote new's newer record). */
#ifdef NO_WINDOW45_EXCUSE
     assert(((WP_OLD(step) -> old_r : new_r) & acked_bits) == acked_bits);
#else
     assert(window45 || ((WP_OLD(step) -> old_r : new_r) & acked_bits) == acked_bits);
#endif
     /* The write secondary converged once repairs drained. */
     assert(!HAS_WS(step) || old_r == new_r)
  fi
}
