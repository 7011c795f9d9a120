/*
 * listener.c: binding listeners and starting/stopping the Go server.
 * Settings arrive from Ruby (Iodine::Listener#core_options) validated and
 * complete, in bytes and seconds: their defaults live in Ruby alone
 * (lib/iodine/listener_settings.rb), so a missing one is a bug (KeyError).
 */
#include "iodine_ext.h"

static VALUE apps; /* listener id -> Rack app (a GC root) */

static VALUE opt(VALUE opts, const char *key) {
  return rb_hash_fetch(opts, ID2SYM(rb_intern(key)));
}

static long opt_int(VALUE opts, const char *key) {
  return NUM2LONG(opt(opts, key));
}

/* Iodine::Base.listen(app, opts) -> [id, port]. Binds at once. */
static VALUE base_listen(VALUE self, VALUE app, VALUE opts) {
  iodine_go_require();
  Check_Type(opts, T_HASH);
  VALUE address = rb_obj_as_string(opt(opts, "address"));
  VALUE public_folder = rb_obj_as_string(opt(opts, "public"));
  iodine_listen_cfg_t cfg = {
      .address = StringValueCStr(address),
      .port = (int32_t)opt_int(opts, "port"),
      .unix_socket = RTEST(opt(opts, "unix")),
      .max_body_bytes = opt_int(opts, "max_body_bytes"),
      .max_header_bytes = (int32_t)opt_int(opts, "max_header_bytes"),
      .max_line_bytes = (int32_t)opt_int(opts, "max_line_bytes"),
      .max_header_count = (int32_t)opt_int(opts, "max_header_count"),
      .keep_alive_s = (int32_t)opt_int(opts, "keep_alive_s"),
      .body_spill_bytes = opt_int(opts, "body_spill_bytes"),
      .fd = (int32_t)opt_int(opts, "fd"),
      .public_folder = StringValueCStr(public_folder),
      .max_age_s = (int32_t)opt_int(opts, "max_age_s"),
      .log = RTEST(opt(opts, "log")),
      .max_msg_bytes = (int32_t)opt_int(opts, "max_msg_bytes"),
      .ping_s = (int32_t)opt_int(opts, "ping_s"),
      .raw = RTEST(opt(opts, "raw")),
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
