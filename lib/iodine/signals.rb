module Iodine
  # Ruby installs signal handlers without SA_ONSTACK; one that runs on a Go
  # thread corrupts the goroutine stack. Every `trap` after the Go core is
  # loaded is followed by re-adding SA_ONSTACK (see ext/iodine/signals.c).
  module SignalGuard
    def trap(*args, &block)
      previous = super
      Iodine::Base.fix_signals if Iodine::Base.loaded?
      previous
    end

    # Puts back the handlers `trap` returned ({ "INT" => previous, ... }).
    def self.restore(previous)
      previous.each { |sig, handler| trap(sig, handler || "DEFAULT") }
    end
  end
end

Signal.singleton_class.prepend(Iodine::SignalGuard)
Kernel.singleton_class.prepend(Iodine::SignalGuard)
Kernel.prepend(Iodine::SignalGuard)
