/*
 * cluster_board.c: the cluster's load board (see go/iodine.h), mapped by
 * the master before it forks, so every worker shares it. Plain C: the
 * master never loads Go.
 */
#include "iodine_ext.h"

#include <string.h>
#include <sys/mman.h>

static iodine_board_slot_t *board;
static int board_slots;
static int board_mine = -1;

/* Iodine::Base.board_create(slots): in the master, once. */
static VALUE board_create(VALUE self, VALUE slots) {
  if (board)
    return Qnil;
  int n = NUM2INT(slots);
  if (n <= 0)
    rb_raise(rb_eArgError, "board slots must be positive");
  void *p = mmap(NULL, sizeof(*board) * n, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    rb_sys_fail("mmap (cluster load board)");
  board = p;
  board_slots = n;
  return Qnil;
}

/* Iodine::Base.board_clear(slot): in the master, before a slot is reused. */
static VALUE board_clear(VALUE self, VALUE slot) {
  int i = NUM2INT(slot);
  if (board && i >= 0 && i < board_slots)
    memset(&board[i], 0, sizeof(*board));
  return Qnil;
}

/* Iodine::Base.board_slot = n: in a worker, its own slot (used at load). */
static VALUE board_set_slot(VALUE self, VALUE slot) {
  board_mine = NUM2INT(slot);
  return slot;
}

/* Hands the board to the Go core just loaded in a worker. */
void iodine_board_attach(void) {
  if (board && board_mine >= 0)
    iodine_go.use_board(board, board_slots, board_mine);
}

void iodine_init_cluster_board(void) {
  rb_define_singleton_method(IodineBase, "board_create", board_create, 1);
  rb_define_singleton_method(IodineBase, "board_clear", board_clear, 1);
  rb_define_singleton_method(IodineBase, "board_slot=", board_set_slot, 1);
}
