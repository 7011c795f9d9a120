/*
 * listener.c: binding listeners and starting/stopping the Go server.
 * Settings arrive from Ruby (lib/iodine/listener.rb) already validated.
 */
#include "iodine_ext.h"

static VALUE apps; /* listener id -> Rack app (a GC root) */

static long opt_int(VALUE opts, const char *key, long dflt) {
  VALUE v = rb_hash_aref(opts, ID2SYM(rb_intern(key)));
  return NIL_P(v) ? dflt : NUM2LONG(v);
}

/* Iodine::Base.listen(app, opts) -> [id, port]. Binds at once. */
static VALUE base_listen(VALUE self, VALUE app, VALUE opts) {
  iodine_go_require();
  Check_Type(opts, T_HASH);
  VALUE address = rb_hash_aref(opts, ID2SYM(rb_intern("address")));
  address = NIL_P(address) ? rb_str_new_cstr("") : rb_obj_as_string(address);
  VALUE public_folder = rb_hash_aref(opts, ID2SYM(rb_intern("public")));
  public_folder = NIL_P(public_folder) ? rb_str_new_cstr("")
                                       : rb_obj_as_string(public_folder);
  iodine_listen_cfg_t cfg = {
      .address = StringValueCStr(address),
      .port = (int32_t)opt_int(opts, "port", 3000),
      .unix_socket = RTEST(rb_hash_aref(opts, ID2SYM(rb_intern("unix")))),
      .max_body = opt_int(opts, "max_body", 50L << 20),
      .max_header = (int32_t)opt_int(opts, "max_header", 32 << 10),
      .max_line = (int32_t)opt_int(opts, "max_line", 8192),
      .max_headers = (int32_t)opt_int(opts, "max_headers", 128),
      .keep_alive = (int32_t)opt_int(opts, "keep_alive", 40),
      .body_spill = opt_int(opts, "body_spill", 1L << 20),
      .fd = (int32_t)opt_int(opts, "fd", -1),
      .public_folder = StringValueCStr(public_folder),
      .max_age = (int32_t)opt_int(opts, "max_age", 3600),
      .log = RTEST(rb_hash_aref(opts, ID2SYM(rb_intern("log")))),
      .max_msg = (int32_t)opt_int(opts, "max_msg", 250 * 1024),
      .ping = (int32_t)opt_int(opts, "ping", 40),
      .raw = RTEST(rb_hash_aref(opts, ID2SYM(rb_intern("raw")))),
  };
  char err[512] = "";
  int id = iodine_go.listen(&cfg, err, sizeof(err));
  RB_GC_GUARD(address);
  RB_GC_GUARD(public_folder);
  if (id < 0)
    rb_raise(IodineError, "can't listen on %s%s%d: %s", cfg.address,
             cfg.unix_socket ? "" : ":", cfg.unix_socket ? 0 : cfg.port, err);
  rb_ary_store(apps, id, app);
  return rb_assoc_new(INT2NUM(id), INT2NUM(iodine_go.listener_port(id)));
}

/* The app a task's listener serves. */
VALUE iodine_listener_app(uint32_t id) { return rb_ary_entry(apps, id); }

/* Iodine::Base.start(gomaxprocs): serve every listener in the background. */
static VALUE base_start(VALUE self, VALUE gomaxprocs) {
  iodine_go_require();
  iodine_go.start(NUM2INT(gomaxprocs));
  return Qnil;
}

/* Iodine::Base.stop(timeout_ms): begin a graceful stop; never waits. */
static VALUE base_stop(VALUE self, VALUE timeout_ms) {
  iodine_go_require();
  iodine_go.stop(NUM2INT(timeout_ms));
  return Qnil;
}

/* Iodine::Base.stopped? -> the Go server has finished every connection. */
static VALUE base_stopped_p(VALUE self) {
  iodine_go_require();
  return iodine_go.stopped() ? Qtrue : Qfalse;
}

void iodine_init_listener(void) {
  apps = rb_ary_new();
  rb_gc_register_mark_object(apps);
  rb_define_singleton_method(IodineBase, "listen", base_listen, 2);
  rb_define_singleton_method(IodineBase, "start", base_start, 1);
  rb_define_singleton_method(IodineBase, "stop", base_stop, 1);
  rb_define_singleton_method(IodineBase, "stopped?", base_stopped_p, 0);
}
