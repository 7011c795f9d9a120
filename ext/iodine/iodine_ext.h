/*
 * iodine_ext.h: what the C glue's files share, and the one list of the
 * crossings between Ruby and C (go/iodine.h lists those between C and Go).
 *
 * Ruby -> C: Iodine::Base's singleton methods (all raise Iodine::Error when
 * the Go core was loaded by another process):
 *   go_loader.c     load_go(path), loaded?, loaded_elsewhere?, verbosity=
 *   signals.c       fix_signals, signal_onstack?(signo)
 *   listener.c      listen(app, core_options) -> [id, port], start(gomaxprocs),
 *                   stop(timeout_ms), stopped?
 *   request_loop.c  serve (a server thread's loop), close_queue
 *   rack_env.c      script_name=, multiprocess=; HIJACK (rack.hijack's callable)
 *   rack_stream.c   Iodine::Base::Stream (Rack 3 streaming bodies)
 *   connection.c    conn_write, conn_write_sse, conn_close, conn_pending,
 *                   conn_timeout, conn_set_timeout, conn_new_id, connect,
 *                   subscribe, unsubscribe, unsubscribe_id, publish,
 *                   hub_serve, hub_connect; the constants EV_* (enum
 *                   iodine_event_type) and CLIENT_* (enum iodine_client_kind)
 *   timers.c        timer_add, timer_done
 *   cluster_board.c board_create, board_clear, board_slot=
 *   iodine.c        ABI_VERSION
 *
 * C -> Ruby (always under rb_protect, on a server thread holding the GVL):
 *   app.call(env) and the body's each/to_path/to_ary/call/close
 *                   (rack_response.c)
 *   Iodine::Base.on_upgrade(id, handler, env, kind)  lib/iodine/connection.rb
 *   Iodine::Base.on_event(id, type, data, sub, channel)  lib/iodine/connection.rb
 *   Iodine::Base.on_pubsub(sub_id, channel, message)  lib/iodine/pubsub.rb
 *   Iodine::Base.on_timer(id)                   lib/iodine/timers.rb
 *   Iodine::Base.log_exception(error, env)      lib/iodine.rb
 */
#ifndef IODINE_EXT_H
#define IODINE_EXT_H

#include <ruby.h>
#include <ruby/thread.h>

#include "iodine.h" /* the Go <-> C crossings, from go/ */

/* The Go library's functions, looked up with dlsym() (go_loader.c). */
typedef struct {
  __typeof__(iodine_abi_version) *abi_version;
  __typeof__(iodine_set_verbosity) *set_verbosity;
  __typeof__(iodine_listen) *listen;
  __typeof__(iodine_listener_port) *listener_port;
  __typeof__(iodine_use_board) *use_board;
  __typeof__(iodine_start) *start;
  __typeof__(iodine_stop) *stop;
  __typeof__(iodine_stopped) *stopped;
  __typeof__(iodine_respond) *respond;
  __typeof__(iodine_stream_write) *stream_write;
  __typeof__(iodine_stream_end) *stream_end;
  __typeof__(iodine_hijack) *hijack;
  __typeof__(iodine_upgrade) *upgrade;
  __typeof__(iodine_conn_done) *conn_done;
  __typeof__(iodine_conn_write) *conn_write;
  __typeof__(iodine_conn_write_sse) *conn_write_sse;
  __typeof__(iodine_conn_close) *conn_close;
  __typeof__(iodine_conn_pending) *conn_pending;
  __typeof__(iodine_conn_set_timeout) *conn_set_timeout;
  __typeof__(iodine_conn_timeout) *conn_timeout;
  __typeof__(iodine_subscribe) *subscribe;
  __typeof__(iodine_unsubscribe) *unsubscribe;
  __typeof__(iodine_unsubscribe_id) *unsubscribe_id;
  __typeof__(iodine_publish) *publish;
  __typeof__(iodine_pubsub_hub_serve) *pubsub_hub_serve;
  __typeof__(iodine_pubsub_hub_connect) *pubsub_hub_connect;
  __typeof__(iodine_conn_new_id) *conn_new_id;
  __typeof__(iodine_connect) *connect;
  __typeof__(iodine_timer_add) *timer_add;
  __typeof__(iodine_timer_done) *timer_done;
  __typeof__(iodine_queue_wait) *queue_wait;
  __typeof__(iodine_queue_try_pop) *queue_try_pop;
  __typeof__(iodine_queue_interrupt) *queue_interrupt;
  __typeof__(iodine_queue_close) *queue_close;
  __typeof__(iodine_queue_is_closed) *queue_is_closed;
  __typeof__(iodine_waiter_new) *waiter_new;
  __typeof__(iodine_waiter_free) *waiter_free;
} iodine_go_api_t;

extern iodine_go_api_t iodine_go;

extern VALUE IodineModule; /* Iodine */
extern VALUE IodineBase;   /* Iodine::Base: the C glue's methods */
extern VALUE IodineError;  /* Iodine::Error */

/* Raises Iodine::Error unless the Go library was loaded by this process. */
void iodine_go_require(void);

/* The request a Ruby thread is serving now (for rack.hijack). */
typedef struct {
  iodine_task_t *task;
  VALUE env;
  int hijacked;
} iodine_current_t;
extern __thread iodine_current_t *iodine_current;

void iodine_init_go_loader(void);
void iodine_init_signals(void);
void iodine_init_request_loop(void);
void iodine_init_rack_env(void);
void iodine_init_rack_response(void);
void iodine_init_rack_stream(void);
VALUE iodine_stream_new(iodine_task_t *t, int status, const char *headers,
                        size_t headers_len);
void iodine_stream_abort(VALUE stream);
int iodine_stream_chunk(uint64_t handle, int *started, int status,
                        const char *headers, size_t headers_len,
                        const char *data, size_t len);
void iodine_init_listener(void);
void iodine_init_connection(void);
int iodine_handle_event(iodine_event_t *e);
void iodine_init_timers(void);
int iodine_handle_timer(iodine_event_t *e);
void iodine_init_cluster_board(void);
void iodine_board_attach(void);

/* A growable byte buffer (rack_response.c); raises NoMemoryError. */
typedef struct {
  char *p;
  size_t len, cap;
} iodine_buf_t;
void iodine_buf_put(iodine_buf_t *b, const void *data, size_t n);

VALUE iodine_rack_env(iodine_task_t *t);
int iodine_rack_handle_task(iodine_task_t *t, VALUE app);

#endif
