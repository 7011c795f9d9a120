module Iodine
  # Tasks and timers: Iodine.run { }, run_after(ms) { }, run_every(ms, n) { }.
  #
  # Each runs on a Ruby thread of the process that runs it. Those added
  # before the process starts serving wait for the start; in a cluster they
  # then run in the master and in every worker (hence the seed README's
  # `unless Iodine.worker?`). They stop with the process; an exception in a
  # block is logged and a repeating timer keeps going.
  module Timers
    Timer = Struct.new(:interval, :repetitions, :block)

    @pending = []
    @threads = []
    @running = false
    @lock = Mutex.new

    class << self
      def add(interval_ms, repetitions, block)
        raise ArgumentError, "a block is required" unless block
        raise ArgumentError, "milliseconds must be >= 0, got #{interval_ms}" if interval_ms.negative?
        raise ArgumentError, "repetitions must be >= 0, got #{repetitions}" if repetitions.negative?
        timer = Timer.new(interval_ms / 1000.0, repetitions, block)
        @lock.synchronize do
          @pending << timer
          launch(timer) if @running
        end
        block
      end

      # The process starts serving: run what was waiting.
      def start
        @lock.synchronize do
          @running = true
          @pending.each { |t| launch(t) }
        end
      end

      def stop
        threads = @lock.synchronize do
          @running = false
          @threads.dup.tap { @threads.clear }
        end
        threads.each { |t| t.kill unless t == Thread.current }
      end

      # In a forked child: the parent's threads did not come along.
      def forked
        @threads.clear
        @running = false
      end

      private

      def launch(timer)
        @threads << Thread.new do
          Thread.current.name = "iodine-timer"
          count = 0
          loop do
            sleep timer.interval
            run_block(timer.block)
            count += 1
            break if timer.repetitions.positive? && count >= timer.repetitions
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

  # Runs the block once, as soon as possible after the server starts.
  def self.run(&block)
    Timers.add(0, 1, block)
  end

  class << self
    alias defer run
  end

  def self.run_after(milliseconds, &block)
    Timers.add(milliseconds, 1, block)
  end

  # Repeats every milliseconds; repetitions 0 means forever.
  def self.run_every(milliseconds, repetitions = 0, &block)
    Timers.add(milliseconds, repetitions, block)
  end
end
