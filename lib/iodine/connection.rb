module Iodine
  # A WebSocket, SSE or raw TCP connection (and, for NeoRack apps, the HTTP
  # event: see neorack.rb). Go owns the socket; this object holds the handler, the
  # env and the app's per-connection storage. Writes never block: Go queues
  # them, `pending` tells the backlog and `on_drained` fires when it empties.
  #
  # The handler's callbacks run on the server's Ruby threads, one at a time
  # per connection and in order: on_open first, on_close last.
  class Connection
    # Open connections by id, until their on_close ran.
    @open = {}
    # Raw TCP services' handlers by listener id, and the listeners whose
    # handler is a factory (see serve_raw).
    @raw_handlers = {}
    @raw_factories = {}

    # What a raw TCP handler may answer.
    RAW_CALLBACKS = %i[on_open on_message on_drained on_timeout ping on_shutdown on_close].freeze
    private_constant :RAW_CALLBACKS

    class << self
      # (Connection.new(url, handler:), the client, is in client.rb.)

      # Called by the C glue when an app accepted an upgrade.
      def accept(id, handler, env, protocol)
        conn = allocate
        conn.send(:setup, id, handler, env, protocol)
        @open[id] = conn
      end

      # A handler that answers `call` and none of the callbacks is a factory,
      # as in iodine 0.7 (`Iodine.listen(service: :raw) { Echo.new }`): it is
      # called, without arguments, once per connection, and what it returns
      # is that connection's handler.
      def serve_raw(listener_id, handler)
        @raw_handlers[listener_id] = handler
        @raw_factories[listener_id] = handler.respond_to?(:call) && RAW_CALLBACKS.none? { |m| handler.respond_to?(m) }
      end

      # A raw TCP service accepted a connection (its open event).
      def accept_raw(id, listener_id, peer)
        handler = @raw_handlers.fetch(listener_id)
        handler = raw_handler_for(handler, peer) if @raw_factories[listener_id]
        conn = allocate
        conn.send(:setup, id, handler, nil, :raw)
        conn.instance_variable_set(:@peer, peer)
        @open[id] = conn
        return conn if handler

        conn.close # as in iodine 0.7: the factory gave no handler
        nil
      end

      def find(id)
        @open[id]
      end

      def forget(id)
        @open.delete(id)
      end

      private

      # A factory's handler for a new connection; nil (the connection is
      # closed, quietly as in iodine 0.7) when it returns nil, true or false,
      # or raises (logged).
      def raw_handler_for(factory, peer)
        handler = factory.call
        [nil, true, false].include?(handler) ? nil : handler
      rescue StandardError => e
        Iodine.log_error(e, suffix: " (in a raw TCP handler factory; closing #{peer}'s connection)", frames: 20)
        nil
      end
    end

    attr_reader :env, :handler, :protocol

    # Swaps the handler; the next event goes to the new one. As the seed's
    # chat example expects, the new handler's on_open is left to the caller.
    def handler=(handler)
      raise ArgumentError, "a handler is required" if handler.nil?
      @handler = handler
    end

    def websocket?
      @protocol == :websocket
    end

    def sse?
      @protocol == :sse
    end

    # Queues data: a UTF-8 string as a text frame, a binary one as a binary
    # frame (an SSE client gets `data:` lines). False once closed.
    def write(data)
      return http_write(data) if @protocol == :http
      return false if @id.zero? # a client not dialed yet (client.rb)

      Base.conn_write(@id, data.to_s, @notify_drained) >= 0
    end

    # An SSE event with an id and an event name (either may be nil).
    def write_sse(id = nil, event = nil, data = nil)
      id, event, data = id.values_at(:id, :event, :data) if id.is_a?(Hash)
      return false if @id.zero?

      Base.conn_write_sse(@id, id.to_s, event.to_s, data.to_s, @notify_drained) >= 0
    end

    # Closes after what is queued was sent (a WebSocket close 1000).
    def close
      Base.conn_close(@id) unless @id.zero?
      nil
    end

    def open?
      pending >= 0
    end

    # Bytes waiting to be sent, or -1 once closed (or not connected yet).
    def pending
      @id.zero? ? -1 : Base.conn_pending(@id)
    end

    # Seconds without traffic before a keep-alive ping (the -ping setting),
    # or, for raw TCP, before on_timeout (the listener's timeout:).
    def timeout
      @id.zero? ? 0 : Base.conn_timeout(@id)
    end

    def timeout=(seconds)
      Base.conn_set_timeout(@id, Integer(seconds)) unless @id.zero?
    end

    def peer_addr
      @env ? @env["REMOTE_ADDR"] : @peer
    end

    # Per-connection storage for the app (an HTTP event's request headers).
    def [](key)
      return headers[key.to_s.downcase] if @protocol == :http
      @store && @store[key]
    end

    def []=(key, value)
      (@store ||= {})[key] = value
    end

    # Without a block, messages go straight to the client from Go; with one,
    # the block runs (with the channel and message, or a message object).
    # Nil on a connection without a socket (a NeoRack HTTP event, a client
    # not connected yet): id 0 would mean the process's own subscriptions.
    def subscribe(channel, match: nil, &block)
      return nil if @id.zero?

      PubSub.subscribe_connection(self, channel, match, block)
    end

    def unsubscribe(channel, match: nil)
      return false if @id.zero?

      PubSub.unsubscribe_connection(self, channel, match)
    end

    def publish(channel, message, engine = nil)
      Iodine.publish(channel, message, engine)
    end

    def inspect
      "#<Iodine::Connection #{@protocol} #{@id}#{open? ? "" : " closed"}>"
    end

    # The id Go knows this connection by (PubSub uses it).
    attr_reader :id

    # Subscription blocks by subscription id (PubSub keeps them here), or
    # nil: most connections subscribe without a block, and need no Hash.
    attr_accessor :subscription_blocks

    # The event kinds (iodine.h's enum iodine_event_type, defined by the C
    # glue) whose callback takes the connection alone.
    EVENTS = { Base::EV_OPEN => :on_open, Base::EV_ACCEPT => :on_open, Base::EV_DRAINED => :on_drained,
               Base::EV_SHUTDOWN => :on_shutdown }.freeze
    private_constant :EVENTS

    # Runs one event's callback (the C glue calls Base.on_event).
    def dispatch(type, data, sub, channel)
      case type
      when Base::EV_MESSAGE then @handler.on_message(self, data) if @handler.respond_to?(:on_message)
      when Base::EV_PUBSUB then PubSub.run_block(subscription_blocks&.dig(sub, 2), channel, data)
      when Base::EV_RECONNECT
        @handler.on_eventsource_reconnect(self, data) if @handler.respond_to?(:on_eventsource_reconnect)
      when Base::EV_CLOSE then closed
      when Base::EV_TIMEOUT then timed_out
      when Base::EV_SSE then eventsource(channel, data)
      else
        name = EVENTS[type]
        @handler.public_send(name, self) if name && @handler.respond_to?(name)
      end
    end

    private

    # The last event: on_close, then NeoRack's on_finish (even if on_close raised).
    def closed
      @handler.on_close(self) if @handler.respond_to?(:on_close)
    ensure
      @handler.on_finish(self) if @handler.respond_to?(:on_finish)
    end

    # A raw TCP connection idle for its timeout: the handler's on_timeout
    # (or ping) decides; without one the connection is closed, as iodine does.
    def timed_out
      if @handler.respond_to?(:on_timeout)
        @handler.on_timeout(self)
      elsif @handler.respond_to?(:ping)
        @handler.ping(self)
      else
        close
      end
    end

    def setup(id, handler, env, protocol)
      @id = id
      @handler = handler
      @env = env
      @protocol = protocol
      @notify_drained = handler.respond_to?(:on_drained)
    end
  end

  # The C glue's entry points for connection events.
  def Base.on_upgrade(id, handler, env, protocol)
    Connection.accept(id, handler, env, protocol)
  end

  def Base.on_event(id, type, data, sub, channel)
    conn = type == Base::EV_ACCEPT ? Connection.accept_raw(id, sub, data) : Connection.find(id)
    conn&.dispatch(type, data, sub, channel)
  rescue StandardError => e
    Iodine.log_error(e, suffix: " (in a #{conn&.protocol} connection's callback)", frames: 20)
  ensure
    Connection.forget(id) if type == Base::EV_CLOSE # on_close is the last event, even if it raised
  end
end
