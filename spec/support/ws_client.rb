# frozen_string_literal: true

require "socket"
require "digest"
require "base64"
require "securerandom"
require "zlib"
require_relative "raw_http"

module IodineSpec
  # A raw RFC 6455 WebSocket client over one TCP connection, for black-box
  # tests: it sends exactly the frames it is told to (valid or not), reports
  # exactly the frames it receives, and bounds every read by a deadline.
  #
  #   WSClient.open(port, "/ws") do |ws|
  #     ws.send_text("hi")
  #     ws.read_message         # => [:text, "hi"]
  #     ws.close(1000, "bye")
  #     ws.read_message         # => [:close, 1000, "bye"]
  #     ws.wait_closed          # => true once the server dropped the TCP connection
  #   end
  class WSClient
    class Error < StandardError; end
    # A read did not complete in time.
    class Timeout < Error; end
    # The connection ended (EOF or reset) before a whole frame arrived.
    class Closed < Error; end
    # The server sent something RFC 6455 forbids (or this client cannot parse).
    class ProtocolError < Error; end

    # The server did not accept the upgrade; `response` is the RawResponse.
    class HandshakeError < Error
      attr_reader :response

      def initialize(message, response = nil)
        super(message)
        @response = response
      end
    end

    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    OPCODES = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xA }.freeze
    OPCODE_NAMES = OPCODES.invert.freeze
    # permessage-deflate strips this empty-block marker from every message (RFC 7692, 7.2.1).
    DEFLATE_TAIL = "\x00\x00\xff\xff".b.freeze

    # opcode: a Symbol for the six defined opcodes, the Integer for reserved ones.
    # length: the payload length the header announced.
    Frame = Struct.new(:fin, :opcode, :payload, :rsv1, :rsv2, :rsv3, :masked, :length, keyword_init: true)

    attr_reader :socket, :response, :response_status, :response_headers, :close_code, :close_reason

    # Performs the opening handshake; raises HandshakeError (with the status
    # line and the start of the body) unless the server answers 101 with the
    # right Sec-WebSocket-Accept. headers: extra or replacing request headers,
    # a nil value drops a default one. With a block, yields the client and
    # always disconnects after it.
    def self.open(port, path = "/", headers: {}, host: "127.0.0.1", timeout: 5, extensions: nil,
                  protocols: nil)
      raw = RawClient.open(port, host: host, timeout: timeout)
      key = send_upgrade(raw, port, path, headers, host, extensions, protocols)
      response = read_handshake(raw, timeout)
      check_acceptance(response, key)
      # Frames the server sent right behind its 101 are already in the raw buffer.
      client = new(raw.socket, response, raw.buffered.slice!(0, raw.buffered.bytesize),
                   timeout: timeout, offered_deflate: extensions.to_s.include?("permessage-deflate"))
      return client unless block_given?

      begin
        yield client
      ensure
        client.disconnect
      end
    rescue StandardError
      raw&.close
      raise
    end

    # Sends the upgrade request and returns the server's answer as a
    # RawResponse (status, headers, body), whatever it is; for tests that
    # expect a refusal. The connection is closed afterwards.
    def self.handshake_response(port, path = "/", headers: {}, host: "127.0.0.1", timeout: 5, extensions: nil,
                                protocols: nil)
      RawClient.open(port, host: host, timeout: timeout) do |raw|
        send_upgrade(raw, port, path, headers, host, extensions, protocols)
        read_handshake(raw, timeout)
      end
    end

    def self.accept_for(key)
      Base64.strict_encode64(Digest::SHA1.digest(key + GUID))
    end

    # The bytes of one frame. mask_key: 4 bytes, random when nil.
    # length_override: the length written in the header, whatever the payload.
    def self.encode_frame(opcode:, payload:, fin: true, mask: true, rsv1: false, rsv2: false, rsv3: false,
                          length_override: nil, mask_key: nil)
      code = opcode.is_a?(Symbol) ? OPCODES.fetch(opcode) : Integer(opcode)
      payload = payload.to_s.b
      length = length_override || payload.bytesize
      byte0 = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (rsv2 ? 0x20 : 0) | (rsv3 ? 0x10 : 0) | code
      mask_bit = mask ? 0x80 : 0
      frame = if length < 126
                [byte0, mask_bit | length].pack("CC")
              elsif length < 65_536
                [byte0, mask_bit | 126, length].pack("CCn")
              else
                [byte0, mask_bit | 127, length].pack("CCQ>")
              end
      return frame << payload unless mask

      mask_key ||= SecureRandom.random_bytes(4)
      frame << mask_key.b << mask_payload(payload, mask_key)
    end

    # XORs the payload with the 4-byte key, a 32-bit word at a time (plain
    # byte loops are too slow for the multi-megabyte messages tests send).
    def self.mask_payload(payload, key)
      size = payload.bytesize
      padded = payload.b + ("\0" * (-size % 4))
      word = key.unpack1("N")
      padded.unpack("N*").map! { |w| w ^ word }.pack("N*").byteslice(0, size)
    end

    # One message compressed on its own (no context), tail stripped.
    def self.deflate(data, window_bits: 15)
      deflater = Zlib::Deflate.new(Zlib::DEFAULT_COMPRESSION, -window_bits)
      compress_with(deflater, data)
    ensure
      deflater&.close
    end

    # One compressed message payload (tail already stripped), on its own.
    def self.inflate(data)
      inflater = Zlib::Inflate.new(-Zlib::MAX_WBITS)
      inflater.inflate(data.b + DEFLATE_TAIL)
    ensure
      inflater&.close
    end

    # One message through a (possibly persistent) raw deflater, tail stripped.
    def self.compress_with(deflater, data)
      out = deflater.deflate(data.b, Zlib::SYNC_FLUSH)
      out.end_with?(DEFLATE_TAIL) ? out.byteslice(0, out.bytesize - 4) : out
    end

    def self.send_upgrade(raw, port, path, headers, host, extensions, protocols)
      key = Base64.strict_encode64(SecureRandom.random_bytes(16))
      defaults = {
        "Host" => "#{host}:#{port}",
        "Upgrade" => "websocket",
        "Connection" => "Upgrade",
        "Sec-WebSocket-Key" => key,
        "Sec-WebSocket-Version" => "13"
      }
      defaults["Sec-WebSocket-Extensions"] = extensions if extensions
      defaults["Sec-WebSocket-Protocol"] = Array(protocols).join(", ") if protocols
      # Replace defaults case-insensitively so a test can override or drop (nil) any of them.
      merged = defaults.reject { |name, _| headers.keys.any? { |k| k.to_s.casecmp?(name) } }.merge(headers)
      raw.request("GET", path, headers: merged)
      merged.find { |name, _| name.to_s.casecmp?("Sec-WebSocket-Key") }&.last || key
    end

    def self.read_handshake(raw, timeout)
      raw.read_response(timeout: timeout)
    rescue RawClient::Timeout, RawClient::Closed => e
      raise HandshakeError, "no handshake response: #{e.message}"
    end

    def self.check_acceptance(response, key)
      if response.status != 101
        raise HandshakeError.new("WebSocket handshake refused: #{status_line(response)}\n" \
                                 "#{response.body.byteslice(0, 300).inspect}", response)
      end
      expected = accept_for(key)
      return if response["Sec-WebSocket-Accept"] == expected

      raise HandshakeError.new("bad Sec-WebSocket-Accept #{response["Sec-WebSocket-Accept"].inspect} " \
                               "(expected #{expected.inspect}) in #{status_line(response)}", response)
    end

    def self.status_line(response)
      "#{response.version} #{response.status} #{response.reason}".strip
    end

    private_class_method :send_upgrade, :read_handshake, :check_acceptance, :status_line

    def initialize(socket, response, buffered, timeout:, offered_deflate:)
      @socket = socket
      @response = response
      @response_status = response.status
      @response_headers = response.headers.each_with_object({}) do |(name, value), h|
        key = name.downcase
        h[key] = h.key?(key) ? "#{h[key]}, #{value}" : value
      end
      @buffer = buffered.b
      @timeout = timeout
      @eof = false
      @close_sent = false
      setup_deflate if offered_deflate
    end

    def protocol
      @response_headers["sec-websocket-protocol"]
    end

    # True when permessage-deflate was offered and accepted.
    def deflate?
      !@deflate.nil?
    end

    # --- sending -------------------------------------------------------

    def send_text(str, compress: false)
      send_message(:text, str, compress)
    end

    def send_binary(str, compress: false)
      send_message(:binary, str, compress)
    end

    # Any single frame, well-formed or not; see WSClient.encode_frame.
    def send_frame(**frame)
      send_raw(self.class.encode_frame(**frame))
    end

    # The message split into `parts` frames (the first with `opcode`, then
    # continuations); compress: deflates the whole message first, RSV1 on
    # the first frame only.
    def send_fragmented(str, parts, opcode: :text, compress: false)
      payload = compress ? compress_message(str) : str.b
      size = payload.bytesize
      frames = (0...parts).map do |i|
        from = i * size / parts
        self.class.encode_frame(opcode: i.zero? ? opcode : :continuation,
                                payload: payload.byteslice(from, ((i + 1) * size / parts) - from),
                                fin: i == parts - 1, rsv1: compress && i.zero?)
      end
      send_raw(frames.join)
    end

    def ping(payload = "")
      send_frame(opcode: :ping, payload: payload)
    end

    def pong(payload = "")
      send_frame(opcode: :pong, payload: payload)
    end

    # Sends a close frame (code nil: an empty close frame); keeps the socket
    # open so the server's close frame and EOF can be read.
    def close(code = 1000, reason = "")
      payload = code ? [code].pack("n") + reason.b : "".b
      @close_sent = true
      send_frame(opcode: :close, payload: payload)
    end

    def send_raw(bytes)
      @socket.write(bytes)
      self
    end

    # Closes the TCP connection (no close frame).
    def disconnect
      @socket.close unless @socket.closed?
    end

    # --- receiving -----------------------------------------------------

    # The next frame as it came (payload unmasked if the server masked it,
    # still compressed if RSV1). A close frame also sets close_code/close_reason.
    def read_frame(timeout: @timeout)
      deadline = IodineSpec.now + timeout
      byte0, byte1 = take(2, deadline).unpack("CC")
      length = byte1 & 0x7F
      length = take(2, deadline).unpack1("n") if length == 126
      length = take(8, deadline).unpack1("Q>") if length == 127
      masked = byte1.anybits?(0x80)
      key = take(4, deadline) if masked
      payload = take(length, deadline)
      payload = self.class.mask_payload(payload, key) if masked
      code = byte0 & 0x0F
      frame = Frame.new(fin: byte0.anybits?(0x80), opcode: OPCODE_NAMES.fetch(code, code), payload: payload,
                        rsv1: byte0.anybits?(0x40), rsv2: byte0.anybits?(0x20), rsv3: byte0.anybits?(0x10),
                        masked: masked, length: length)
      note_close(frame) if frame.opcode == :close
      frame
    end

    # The next message: [:text, String (UTF-8, not validated)],
    # [:binary, String (ASCII-8BIT)], [:pong, payload], or
    # [:close, code or nil, reason]. Fragments are joined and RSV1 messages
    # inflated. reply: answers pings with a pong and the server's close with
    # the same code (as browsers do) unless a close was already sent; with
    # reply: false pings come back as [:ping, payload] and nothing is sent.
    def read_message(timeout: @timeout, reply: true)
      deadline = IodineSpec.now + timeout
      first = nil
      parts = []
      loop do
        frame = read_frame(timeout: [deadline - IodineSpec.now, 0].max)
        case frame.opcode
        when :ping
          return [:ping, frame.payload] unless reply

          pong(frame.payload)
        when :pong
          return [:pong, frame.payload]
        when :close
          close(@close_code, @close_reason) if reply && !@close_sent
          return [:close, @close_code, @close_reason]
        when :text, :binary
          raise ProtocolError, "new #{frame.opcode} frame inside a fragmented message" if first

          first = frame
          parts << frame.payload
          return finish_message(first, parts.join) if frame.fin
        when :continuation
          raise ProtocolError, "continuation frame with no message to continue" unless first

          parts << frame.payload
          return finish_message(first, parts.join) if frame.fin
        else
          raise ProtocolError, "reserved opcode 0x#{frame.opcode.to_s(16)}"
        end
      end
    end

    # n messages read under one deadline; stops early after a close.
    def read_messages(count, timeout: @timeout, reply: true)
      deadline = IodineSpec.now + timeout
      messages = []
      while messages.size < count
        messages << read_message(timeout: [deadline - IodineSpec.now, 0].max, reply: reply)
        break if messages.last.first == :close
      end
      messages
    end

    # True if the server closed the TCP connection (checked without waiting).
    def closed?
      fill(IodineSpec.now) { nil }
      @eof
    end

    # Waits (bounded) for the server to close the TCP connection; true if it
    # did. Data that arrives meanwhile is kept for read_frame/read_message.
    def wait_closed(timeout: @timeout)
      fill(IodineSpec.now + timeout) { nil }
      @eof
    end

    private

    def send_message(type, str, compress)
      payload = compress ? compress_message(str) : str.b
      send_frame(opcode: type, payload: payload, rsv1: compress)
    end

    def compress_message(str)
      raise Error, "permessage-deflate was not negotiated" unless @deflate

      deflater = @deflate[:deflater] || Zlib::Deflate.new(Zlib::DEFAULT_COMPRESSION, -@deflate[:window_bits])
      out = self.class.compress_with(deflater, str)
      deflater.close unless @deflate[:deflater]
      out
    end

    def finish_message(first, payload)
      payload = inflate_message(payload) if first.rsv1
      payload.force_encoding(Encoding::UTF_8) if first.opcode == :text
      [first.opcode, payload]
    end

    def inflate_message(payload)
      raise ProtocolError, "RSV1 set but permessage-deflate was not negotiated" unless @deflate

      # A persistent inflater follows the server's context takeover; it also
      # reads messages the server compressed without context.
      @inflater = nil if @inflater&.finished?
      @inflater ||= Zlib::Inflate.new(-Zlib::MAX_WBITS)
      @inflater.inflate(payload + DEFLATE_TAIL)
    end

    # Reads the server's permessage-deflate answer: client_no_context_takeover
    # means a fresh compressor per message, client_max_window_bits a smaller
    # window (zlib's raw deflate cannot go below 9).
    def setup_deflate
      header = @response_headers["sec-websocket-extensions"].to_s
      offer = header.split(",").map { |ext| ext.split(";").map(&:strip) }
                    .find { |name, *| name == "permessage-deflate" }
      return unless offer

      params = offer.drop(1).to_h do |param|
        name, value = param.split("=", 2)
        [name, value&.delete('"')]
      end
      window_bits = [Integer(params["client_max_window_bits"] || 15), 9].max
      unless params.key?("client_no_context_takeover")
        deflater = Zlib::Deflate.new(Zlib::DEFAULT_COMPRESSION, -window_bits)
      end
      @deflate = { params: params, window_bits: window_bits, deflater: deflater }
    end

    def note_close(frame)
      @close_code = frame.payload.bytesize >= 2 ? frame.payload.unpack1("n") : nil
      @close_reason = (frame.payload.byteslice(2..) || "".b).force_encoding(Encoding::UTF_8)
    end

    # Exactly n bytes off the buffer, reading (bounded) as needed.
    def take(count, deadline)
      return @buffer.slice!(0, count) if fill(deadline) { @buffer.bytesize >= count ? true : nil }

      have = "have #{@buffer.bytesize} of #{count} bytes"
      raise Closed, "connection closed mid-frame or before one (#{have})" if @eof

      raise Timeout, "no complete frame in time (#{have})"
    end

    # Reads into the buffer until the block returns non-nil, EOF or the
    # deadline; a deadline already past still drains what is readable now.
    def fill(deadline)
      loop do
        value = yield
        return value if value
        return nil if @eof

        ready = IO.select([@socket], nil, nil, [deadline - IodineSpec.now, 0].max)
        return nil unless ready

        chunk = begin
          @socket.read_nonblock(65_536, exception: false)
        rescue Errno::ECONNRESET, Errno::EPIPE
          nil
        end
        next if chunk == :wait_readable

        chunk.nil? ? @eof = true : @buffer << chunk
      end
    end
  end
end
