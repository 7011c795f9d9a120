/*
 * timers.c: Iodine.run / run_after / run_every in a process that serves.
 *
 * Go owns the clock (go/timers.go) and Ruby the blocks (lib/iodine/
 * timers.rb, by id). A due run arrives as an IODINE_TASK_TIMER task and
 * becomes one call to Iodine::Base.on_timer(id), which runs the block and
 * reports the run done (Base.timer_done), so Go schedules the next one.
 */
#include "iodine_ext.h"

static ID id_on_timer;

static VALUE dispatch(VALUE id) { return rb_funcall(IodineBase, id_on_timer, 1, id); }

/* The block's exceptions are logged in Ruby; anything else (Thread#kill) is
 * passed on to the request loop. */
int iodine_handle_timer(iodine_event_t *e) {
  int state = 0;
  rb_protect(dispatch, ULL2NUM(e->handle), &state);
  return state;
}

/* timer_add(id, delay_ms, interval_ms, repetitions) -> false once stopping */
static VALUE timer_add(VALUE self, VALUE id, VALUE delay, VALUE interval,
                       VALUE repetitions) {
  iodine_go_require();
  return iodine_go.timer_add(NUM2ULL(id), NUM2LL(delay), NUM2LL(interval),
                             NUM2LL(repetitions)) == 0
             ? Qtrue
             : Qfalse;
}

/* timer_done(id) -> whether the timer goes on (false after its last run) */
static VALUE timer_done(VALUE self, VALUE id) {
  iodine_go_require();
  return iodine_go.timer_done(NUM2ULL(id)) ? Qtrue : Qfalse;
}

void iodine_init_timers(void) {
  id_on_timer = rb_intern("on_timer");
  rb_define_singleton_method(IodineBase, "timer_add", timer_add, 4);
  rb_define_singleton_method(IodineBase, "timer_done", timer_done, 1);
}
