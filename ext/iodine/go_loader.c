/*
 * go_loader.c: loading the Go library, lazily, in the process that serves.
 *
 * The Go runtime is not fork-safe, so the extension never links it: a
 * process loads it with dlopen() after any fork, and every entry point
 * checks that the calling process is the one that loaded it.
 */
#include "iodine_ext.h"

#include <dlfcn.h>
#include <unistd.h>

iodine_go_api_t iodine_go;
static void *go_lib;
static pid_t go_pid;

void iodine_go_require(void) {
  if (!go_lib)
    rb_raise(IodineError, "the iodine server core is not loaded in this "
                          "process (call Iodine.start)");
  if (go_pid != getpid())
    rb_raise(IodineError,
             "the iodine server core was loaded by process %d; this process "
             "(%d) was forked from it and cannot use it",
             (int)go_pid, (int)getpid());
}

#define LOOKUP(field, name)                                                    \
  do {                                                                         \
    *(void **)&iodine_go.field = dlsym(lib, name);                                    \
    if (!iodine_go.field) {                                                           \
      missing = name;                                                          \
      goto fail;                                                               \
    }                                                                          \
  } while (0)

/* Iodine::Base.load_go(path) -> true. Idempotent in the loading process. */
static VALUE load_go(VALUE self, VALUE path) {
  if (go_lib) {
    iodine_go_require();
    return Qtrue;
  }
  const char *missing = NULL;
  void *lib = dlopen(StringValueCStr(path), RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    rb_raise(IodineError, "can't load the iodine server core: %s", dlerror());
  LOOKUP(abi_version, "iodine_abi_version");
  if (iodine_go.abi_version() != IODINE_ABI_VERSION) {
    int found = iodine_go.abi_version();
    dlclose(lib);
    rb_raise(IodineError,
             "%s has ABI version %d, this extension needs %d: rebuild iodine",
             StringValueCStr(path), found, IODINE_ABI_VERSION);
  }
  LOOKUP(set_verbosity, "iodine_set_verbosity");
  LOOKUP(listen, "iodine_listen");
  LOOKUP(listener_port, "iodine_listener_port");
  LOOKUP(use_board, "iodine_use_board");
  LOOKUP(start, "iodine_start");
  LOOKUP(stop, "iodine_stop");
  LOOKUP(stopped, "iodine_stopped");
  LOOKUP(respond, "iodine_respond");
  LOOKUP(stream_write, "iodine_stream_write");
  LOOKUP(stream_end, "iodine_stream_end");
  LOOKUP(hijack, "iodine_hijack");
  LOOKUP(upgrade, "iodine_upgrade");
  LOOKUP(conn_done, "iodine_conn_done");
  LOOKUP(conn_write, "iodine_conn_write");
  LOOKUP(conn_write_sse, "iodine_conn_write_sse");
  LOOKUP(conn_close, "iodine_conn_close");
  LOOKUP(conn_pending, "iodine_conn_pending");
  LOOKUP(conn_set_timeout, "iodine_conn_set_timeout");
  LOOKUP(conn_timeout, "iodine_conn_timeout");
  LOOKUP(subscribe, "iodine_subscribe");
  LOOKUP(unsubscribe, "iodine_unsubscribe");
  LOOKUP(unsubscribe_id, "iodine_unsubscribe_id");
  LOOKUP(publish, "iodine_publish");
  LOOKUP(pubsub_hub_serve, "iodine_pubsub_hub_serve");
  LOOKUP(pubsub_hub_connect, "iodine_pubsub_hub_connect");
  LOOKUP(conn_new_id, "iodine_conn_new_id");
  LOOKUP(connect, "iodine_connect");
  LOOKUP(timer_add, "iodine_timer_add");
  LOOKUP(timer_done, "iodine_timer_done");
  LOOKUP(queue_wait, "iodine_queue_wait");
  LOOKUP(queue_try_pop, "iodine_queue_try_pop");
  LOOKUP(queue_interrupt, "iodine_queue_interrupt");
  LOOKUP(queue_close, "iodine_queue_close");
  LOOKUP(queue_is_closed, "iodine_queue_is_closed");
  LOOKUP(waiter_new, "iodine_waiter_new");
  LOOKUP(waiter_free, "iodine_waiter_free");
  go_lib = lib;
  go_pid = getpid();
  iodine_board_attach(); /* a cluster worker: share the load board */
  return Qtrue;
fail:
  dlclose(lib);
  rb_raise(IodineError, "the iodine server core lacks %s: rebuild iodine",
           missing);
  return Qnil;
}

/* Iodine::Base.loaded? -> whether this process can use the Go core. */
static VALUE go_loaded_p(VALUE self) {
  return (go_lib && go_pid == getpid()) ? Qtrue : Qfalse;
}

/* Iodine::Base.loaded_elsewhere? -> a parent loaded it before forking us. */
static VALUE go_loaded_elsewhere_p(VALUE self) {
  return (go_lib && go_pid != getpid()) ? Qtrue : Qfalse;
}

static VALUE set_verbosity(VALUE self, VALUE level) {
  if (go_lib && go_pid == getpid())
    iodine_go.set_verbosity(NUM2INT(level));
  return level;
}

void iodine_init_go_loader(void) {
  rb_define_singleton_method(IodineBase, "load_go", load_go, 1);
  rb_define_singleton_method(IodineBase, "loaded?", go_loaded_p, 0);
  rb_define_singleton_method(IodineBase, "loaded_elsewhere?",
                             go_loaded_elsewhere_p, 0);
  rb_define_singleton_method(IodineBase, "verbosity=", set_verbosity, 1);
}
