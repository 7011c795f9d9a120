module Iodine
  # Tasks and timers: Iodine.run { }, run_after(ms) { }, run_every(ms, n) { }.
  #
  # Those added before the process starts serving wait for the start; in a
  # cluster they then run in the master and in every worker (hence the seed
  # README's `unless Iodine.worker?`). They stop with the process; an
  # exception in a block is logged and a repeating timer keeps going.
  #
  # Where they run depends on the process:
  # * one that serves (a single process, or a cluster worker) has the Go
  #   core: Go keeps the time (go/timers.go) and a due run travels the task
  #   queue like a request, so blocks run on the server's own threads (-t);
  #   a repeating timer's next run is scheduled only once the previous one
  #   is over, so a slow block never has runs piling up behind it;
  # * the cluster master never loads Go: each timer has a Ruby thread.
  module Timers
    # Milliseconds; repetitions 0 means forever.
    Timer = Struct.new(:delay, :interval, :repetitions, :block)

    @pending = [] # added before the start: each process that starts runs them
    @mode = nil   # nil until the start, then :queue (Go) or :threads
    @blocks = {}  # :queue: timer id => Timer
    @next_id = 0
    @threads = [] # :threads
    @lock = Mutex.new

    class << self
      def add(delay_ms, interval_ms, repetitions, block)
        raise ArgumentError, "a block is required" unless block
        if delay_ms.negative? || interval_ms.negative?
          raise ArgumentError, "milliseconds must be >= 0, got #{[delay_ms, interval_ms].min}"
        end
        raise ArgumentError, "repetitions must be >= 0, got #{repetitions}" if repetitions.negative?
        timer = Timer.new(delay_ms, interval_ms, repetitions, block)
        @lock.synchronize do
          case @mode
          when :queue then schedule(timer)
          when :threads then launch(timer)
          else @pending << timer
          end
        end
        block
      end

      # The process starts serving: run what was waiting. queue: the Go
      # core is loaded and serving here (see Server.run).
      def start(queue: false)
        @lock.synchronize do
          @mode = queue ? :queue : :threads
          @pending.each { |t| queue ? schedule(t) : launch(t) }
        end
      end

      # The process began shutting down: no block starts from now on (Go
      # drops its timers when the server stops).
      def stop
        threads = @lock.synchronize do
          @mode = nil
          @blocks.clear
          @threads.dup.tap { @threads.clear }
        end
        threads.each { |t| t.kill unless t == Thread.current }
      end

      # In a forked child: the parent's threads and Go timers did not come
      # along; what was added before the start waits for the child's start.
      def forked
        @threads.clear
        @blocks.clear
        @mode = nil
      end

      # A timer's run, taken from the task queue by a serving thread (the
      # C glue calls Base.on_timer). Go schedules the next run when it is
      # told this one is done.
      def fire(id)
        timer = @lock.synchronize { @blocks[id] }
        return unless timer
        begin
          run_block(timer.block)
        ensure
          @lock.synchronize { @blocks.delete(id) } unless Base.timer_done(id)
        end
      end

      private

      def schedule(timer)
        id = (@next_id += 1)
        @blocks[id] = timer
        @blocks.delete(id) unless Base.timer_add(id, timer.delay, timer.interval, timer.repetitions)
      end

      def launch(timer)
        @threads << Thread.new do
          Thread.current.name = "iodine-timer"
          count = 0
          wait = timer.delay
          loop do
            sleep wait / 1000.0
            run_block(timer.block)
            count += 1
            break if timer.repetitions.positive? && count >= timer.repetitions
            wait = timer.interval
          end
        end
      end

      def run_block(block)
        block.call
      rescue StandardError => e
        Iodine.log_error(e, prefix: "timer/task raised ", frames: 10)
      end
    end
  end

  # The C glue's entry point for a due timer (IODINE_TASK_TIMER).
  def Base.on_timer(id)
    Timers.fire(id)
  end

  # Runs the block once, as soon as possible after the server starts.
  def self.run(&block)
    Timers.add(0, 0, 1, block)
  end

  class << self
    alias defer run
  end

  def self.run_after(milliseconds, &block)
    Timers.add(milliseconds, 0, 1, block)
  end

  # Repeats every milliseconds; repetitions 0 means forever.
  def self.run_every(milliseconds, repetitions = 0, &block)
    Timers.add(milliseconds, milliseconds, repetitions, block)
  end
end
