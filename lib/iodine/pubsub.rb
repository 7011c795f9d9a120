module Iodine
  # Pub/sub. Go keeps the subscriptions and fans messages out: to clients
  # directly (a connection subscribed without a block) or to Ruby blocks, on
  # the server's threads. Iodine.publish goes to the whole cluster by default
  # (PubSub::CLUSTER, relayed by the cluster's hub process), or to this
  # process alone (PubSub::PROCESS), or to an engine of the app's own.
  module PubSub
    # What a one-argument subscription block gets.
    Message = Struct.new(:channel, :message, :id, :published) do
      alias_method :event, :channel
      alias_method :data, :message
      alias_method :to_s, :message
    end

    # Subclass and override subscribe/unsubscribe/publish to carry messages
    # elsewhere (Redis, ...). An engine delivers what reaches it with
    # Iodine.publish(channel, message, Iodine::PubSub::PROCESS).
    class Engine
      def subscribe(channel, match = nil); end

      def unsubscribe(channel, match = nil); end

      def publish(channel, message)
        raise NotImplementedError, "#{self.class} must implement publish(channel, message)"
      end
    end

    # Every worker of the cluster (this process alone with -w 0).
    class ClusterEngine < Engine
      def publish(channel, message)
        PubSub.publish_native(channel, message, true)
      end
    end

    # This process only.
    class ProcessEngine < Engine
      def publish(channel, message)
        PubSub.publish_native(channel, message, false)
      end
    end

    CLUSTER = ClusterEngine.new
    PROCESS = ProcessEngine.new

    @default = CLUSTER
    @attached = []
    @blocks = {}     # process subscription id => block
    @process = {}    # [channel, pattern] => subscription id
    @waiting = []    # subscriptions made before the server started

    class << self
      attr_reader :default
      # The cluster hub's Unix socket, set by the master before forking.
      attr_accessor :hub_path

      def default=(engine)
        raise ArgumentError, "#{engine.inspect} is not an Iodine::PubSub::Engine" unless engine.is_a?(Engine)
        @default = engine
      end

      # Attached engines hear about every subscription (to mirror them).
      def attach(engine)
        @attached << engine unless @attached.include?(engine)
        engine
      end

      def detach(engine)
        @attached.delete(engine)
        engine
      end

      # Tells an engine about every current process subscription again.
      def reset(engine = nil)
        (engine ? [engine] : @attached).each do |e|
          @process.each_key { |channel, pattern| e.subscribe(channel, pattern ? :redis : nil) }
        end
        nil
      end

      def subscribe_process(channel, match, block)
        raise ArgumentError, "Iodine.subscribe needs a block" unless block
        channel, pattern = key(channel, match)
        return (@waiting << [channel, match, block]) && channel unless Base.loaded?
        old = @process[[channel, pattern]]
        @blocks.delete(old) if old
        id = Base.subscribe(0, channel, pattern, true)
        @process[[channel, pattern]] = id
        @blocks[id] = block
        @attached.each { |e| e.subscribe(channel, match) }
        channel
      end

      def unsubscribe_process(channel, match)
        channel, pattern = key(channel, match)
        @waiting.reject! { |c, m, _| c == channel && !m.nil? == pattern }
        id = @process.delete([channel, pattern])
        return false unless id
        @blocks.delete(id)
        Base.unsubscribe_id(id)
        @attached.each { |e| e.unsubscribe(channel, match) }
        true
      end

      # The server started in this process: make the waiting subscriptions.
      def started
        waiting = @waiting
        @waiting = []
        waiting.each { |channel, match, block| subscribe_process(channel, match, block) }
      end

      # A forked child inherits no subscriptions from Go.
      def forked
        @blocks.clear
        @process.clear
      end

      def subscribe_connection(conn, channel, match, block)
        channel, pattern = key(channel, match)
        id = Base.subscribe(conn.id, channel, pattern, !block.nil?)
        return nil if id.zero? # the connection is closed
        conn.subscription_blocks&.delete_if { |_, (c, p, _)| c == channel && p == pattern }
        (conn.subscription_blocks ||= {})[id] = [channel, pattern, block] if block
        @attached.each { |e| e.subscribe(channel, match) }
        channel
      end

      def unsubscribe_connection(conn, channel, match)
        channel, pattern = key(channel, match)
        conn.subscription_blocks&.delete_if { |_, (c, p, _)| c == channel && p == pattern }
        Base.unsubscribe(conn.id, channel, pattern)
      end

      def publish_native(channel, message, cluster)
        unless Base.loaded?
          raise Iodine::Error, "Iodine.publish needs the running server (call it from a callback, or after Iodine.start)"
        end
        Base.publish(channel, message, cluster)
      end

      # Runs a subscription block with (channel, message), or with a
      # Message when it takes one argument.
      def run_block(block, channel, message)
        return unless block
        if block.arity == 1
          block.call(Message.new(channel, message, nil, Time.now))
        else
          block.call(channel, message)
        end
      end

      def deliver(id, channel, message)
        run_block(@blocks[id], channel, message)
      end

      private

      # Channels are strings (symbols welcome); match: :redis makes a glob.
      def key(channel, match)
        raise ArgumentError, "a channel name is required" if channel.nil?
        unless match.nil? || match == :redis || match == "redis"
          raise ArgumentError, "match: #{match.inspect} is not supported (only :redis globs)"
        end
        channel = channel.to_s
        raise ArgumentError, "pub/sub channel names are limited to 64 KiB" if channel.bytesize > 65_536
        [channel, !match.nil?]
      end
    end
  end

  # Subscribes this process: the block runs on a server thread for each
  # message, with (channel, message) or one message object.
  def self.subscribe(channel, match: nil, &block)
    PubSub.subscribe_process(channel, match, block)
  end

  def self.unsubscribe(channel, match: nil)
    PubSub.unsubscribe_process(channel, match)
  end

  # Publishes to every subscriber of the cluster (or through engine).
  # Empty messages are ignored, as in iodine.
  def self.publish(channel, message, engine = nil)
    raise ArgumentError, "a channel name is required" if channel.nil?
    message = message.to_s
    return false if message.empty?
    (engine || PubSub.default).publish(channel.to_s, message)
  end

  # The C glue's entry point for a process subscription's message.
  def Base.on_pubsub(id, channel, message)
    PubSub.deliver(id, channel, message)
  rescue StandardError => e
    Iodine.log_error(e, suffix: " (in the pub/sub block for #{channel.inspect})", frames: 20)
  end
end
