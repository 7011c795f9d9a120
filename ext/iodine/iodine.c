/*
 * iodine.c: the extension's entry point. Loading it starts no Go runtime:
 * Iodine::Base.load_go does that, in the process that will serve.
 */
#include "iodine_ext.h"

VALUE IodineModule, IodineBase, IodineError;

void Init_iodine_ext(void) {
  rb_require("stringio");
  rb_require("socket");
  IodineModule = rb_define_module("Iodine");
  IodineBase = rb_define_module_under(IodineModule, "Base");
  if (rb_const_defined_at(IodineModule, rb_intern("Error")))
    IodineError = rb_const_get_at(IodineModule, rb_intern("Error"));
  else
    IodineError =
        rb_define_class_under(IodineModule, "Error", rb_eStandardError);
  rb_define_const(IodineBase, "ABI_VERSION", INT2NUM(IODINE_ABI_VERSION));
  iodine_init_go_loader();
  iodine_init_signals();
  iodine_init_listener();
  iodine_init_cluster_board();
  iodine_init_request_loop();
  iodine_init_rack_env();
  iodine_init_rack_response();
  iodine_init_rack_stream();
  iodine_init_connection();
  iodine_init_timers();
}
