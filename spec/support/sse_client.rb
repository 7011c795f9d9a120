# frozen_string_literal: true

require "socket"
require_relative "process_helpers"

module IodineSpec
  # A raw Server-Sent Events client: one GET with Accept: text/event-stream,
  # then the body parsed line by line as the HTML spec says (lines end in
  # CRLF, LF or CR; a blank line ends an event). Chunked, Content-Length and
  # run-to-EOF bodies are all understood. Every read is bounded.
  #
  #   SSEClient.open(port, "/events") do |sse|
  #     sse.response_status     # => 200
  #     sse.read_event          # => #<struct Event id="1", event="tick", data="a\nb", retry=nil, raw=...>
  #   end
  class SSEClient
    class Error < StandardError; end
    # A read did not complete in time.
    class Timeout < Error; end
    # The body ended before what was asked for.
    class Closed < Error; end

    # One event block, as sent. Unlike a browser this reports what the block
    # held, not what the spec would dispatch: id/event/data are nil when the
    # block had no such field (a browser would say lastEventId/"message"/""),
    # a block with only retry: or id: is returned too, and multiple data
    # lines are joined with "\n". retry: Integer (non-digit values are
    # ignored, per the spec). raw: the block's lines joined with "\n".
    Event = Struct.new(:id, :event, :data, :retry, :raw, keyword_init: true)

    BOM = "\xEF\xBB\xBF".b.freeze

    attr_reader :socket, :response_status, :response_headers, :response_head, :last_event_id, :comments

    # Sends the request and reads the response head (bounded); does not
    # raise on a non-200 status: check response_status. headers: extra or
    # replacing request headers, a nil value drops a default one. With a
    # block, yields the client and always closes it after.
    def self.open(port, path = "/", headers: {}, last_event_id: nil, host: "127.0.0.1", timeout: 5)
      client = new(Socket.tcp(host, port, connect_timeout: timeout), timeout: timeout)
      defaults = { "Host" => "#{host}:#{port}", "Accept" => "text/event-stream", "Cache-Control" => "no-cache" }
      defaults["Last-Event-ID"] = last_event_id.to_s if last_event_id
      merged = defaults.reject { |name, _| headers.keys.any? { |k| k.to_s.casecmp?(name) } }.merge(headers)
      request = +"GET #{path} HTTP/1.1\r\n"
      merged.each { |name, value| request << "#{name}: #{value}\r\n" unless value.nil? }
      client.socket.write("#{request}\r\n")
      client.read_head
      return client unless block_given?

      begin
        yield client
      ensure
        client.close
      end
    rescue StandardError
      client&.close
      raise
    end

    def initialize(socket, timeout: 5)
      @socket = socket
      @timeout = timeout
      @wire = +"".b # bytes as received
      @body = +"".b # body bytes after de-chunking, not yet parsed
      @eof = false
      @ended = false
      @events = []
      @comments = []
      @comments_read = 0
      @block = nil
      @last_event_id = nil
    end

    # Parses the status line and headers (headers: lowercase name => value,
    # repeated ones joined with ", "), and picks the body framing.
    def read_head(timeout: @timeout)
      deadline = IodineSpec.now + timeout
      head_end = fill(deadline) { @wire.index("\r\n\r\n") }
      raise(@eof ? Closed : Timeout, "no response head (got #{@wire.byteslice(0, 200).inspect})") unless head_end

      @response_head = @wire.slice!(0, head_end + 4)
      status_line, *lines = @response_head.split("\r\n")
      status = status_line[%r{\AHTTP/\d\.\d (\d{3})}, 1]
      raise Error, "bad status line: #{status_line.inspect}" unless status

      @response_status = Integer(status)
      @response_headers = lines.each_with_object({}) do |line, h|
        name, value = line.split(":", 2)
        key = name.downcase
        h[key] = h.key?(key) ? "#{h[key]}, #{value.to_s.strip}" : value.to_s.strip
      end
      @framing = if @response_headers["transfer-encoding"].to_s.downcase.include?("chunked")
                   @chunk = :size
                   :chunked
                 elsif @response_headers["content-length"]
                   @remaining = Integer(@response_headers["content-length"])
                   :length
                 else
                   :eof
                 end
      decode
    end

    # The next event block (see Event); raises Timeout, or Closed when the
    # body ends first. Comments met on the way are kept in `comments`.
    def read_event(timeout: @timeout)
      deadline = IodineSpec.now + timeout
      loop do
        return @events.shift unless @events.empty?

        process_line(next_line(deadline, "an event"))
      end
    end

    # n events under one deadline.
    def read_events(count, timeout: @timeout)
      deadline = IodineSpec.now + timeout
      Array.new(count) { read_event(timeout: [deadline - IodineSpec.now, 0].max) }
    end

    # The next comment line's text (after the ':' and one optional space),
    # in order; events met on the way stay queued for read_event.
    def read_comment(timeout: @timeout)
      deadline = IodineSpec.now + timeout
      process_line(next_line(deadline, "a comment")) while @comments.size <= @comments_read
      @comments_read += 1
      @comments[@comments_read - 1]
    end

    # The rest of the body, unparsed, once it ends (bounded); for non-stream
    # answers such as an error page.
    def read_body(timeout: @timeout)
      raise Timeout, "body did not end within #{timeout}s" unless wait_closed(timeout: timeout)

      @body.slice!(0, @body.bytesize)
    end

    # True if the body has ended (EOF, last chunk or Content-Length reached),
    # checked without waiting.
    def closed?
      fill(IodineSpec.now) { nil }
      @ended
    end

    # Waits (bounded) for the body to end; true if it did. What arrives
    # meanwhile stays readable.
    def wait_closed(timeout: @timeout)
      fill(IodineSpec.now + timeout) { nil }
      @ended
    end

    def close
      @socket.close unless @socket.closed?
    end

    private

    # The next line without its terminator (UTF-8). A CR at the end of
    # what has arrived waits for one more byte, in case an LF follows.
    def next_line(deadline, wanted)
      line = fill(deadline) do
        i = @body.index(/[\r\n]/)
        next nil unless i
        next nil if @body.getbyte(i) == 13 && i == @body.bytesize - 1 && !@ended

        text = @body.slice!(0, i)
        @body.slice!(0, @body.start_with?("\r\n") ? 2 : 1)
        text
      end
      return line.force_encoding(Encoding::UTF_8) if line

      # A final line with no terminator is dropped, as the spec says.
      raise Closed, "body ended before #{wanted}" if @ended

      raise Timeout, "no #{wanted} in time (unparsed: #{@body.byteslice(0, 200).inspect})"
    end

    def process_line(line)
      if line.empty?
        dispatch
      elsif line.start_with?(":")
        @comments << line[1..].delete_prefix(" ")
      else
        name, value = line.split(":", 2)
        value = value.to_s.delete_prefix(" ")
        @block ||= { lines: [] }
        @block[:lines] << line
        case name
        when "data" then (@block[:data] ||= []) << value
        when "event" then @block[:event] = value
        when "id" then @block[:id] = value unless value.include?("\0")
        when "retry" then @block[:retry] = Integer(value, 10) if value.match?(/\A\d+\z/)
        end
      end
    end

    def dispatch
      return unless @block

      @last_event_id = @block[:id] if @block.key?(:id)
      @events << Event.new(id: @block[:id], event: @block[:event], data: @block[:data]&.join("\n"),
                           retry: @block[:retry], raw: @block[:lines].join("\n"))
      @block = nil
    end

    # Moves received bytes into @body according to the framing; marks the
    # end of the body.
    def decode
      case @framing
      when :eof
        @body << @wire.slice!(0, @wire.bytesize)
      when :length
        part = @wire.slice!(0, @remaining)
        @body << part
        @remaining -= part.bytesize
        @ended = true if @remaining.zero?
      when :chunked
        decode_chunks
      end
      strip_bom
      @ended ||= @eof
    end

    def decode_chunks
      loop do
        case @chunk
        when :size
          line_end = @wire.index("\r\n") or return
          @chunk_left = Integer(@wire.slice!(0, line_end + 2).strip.split(";").first, 16)
          @chunk = @chunk_left.zero? ? :done : :data
        when :data
          return if @wire.empty?

          part = @wire.slice!(0, @chunk_left)
          @body << part
          @chunk_left -= part.bytesize
          @chunk = :crlf if @chunk_left.zero?
        when :crlf
          return if @wire.bytesize < 2

          crlf = @wire.slice!(0, 2)
          raise Error, "chunk not followed by CRLF: #{crlf.inspect}" unless crlf == "\r\n"

          @chunk = :size
        when :done
          @ended = true
          return
        end
      end
    end

    # The spec drops one UTF-8 BOM at the very start of the stream.
    def strip_bom
      return if @bom_checked || (@body.bytesize < 3 && !@eof)

      @bom_checked = true
      @body.slice!(0, 3) if @body.start_with?(BOM)
    end

    # Reads into @wire (decoding into @body) until the block returns
    # non-nil, the body ends or the deadline passes; a deadline already past
    # still drains what is readable now.
    def fill(deadline)
      loop do
        value = yield
        return value if value
        return nil if @ended || @eof

        ready = IO.select([@socket], nil, nil, [deadline - IodineSpec.now, 0].max)
        return nil unless ready

        chunk = begin
          @socket.read_nonblock(65_536, exception: false)
        rescue Errno::ECONNRESET, Errno::EPIPE
          nil
        end
        next if chunk == :wait_readable

        chunk.nil? ? @eof = true : @wire << chunk
        decode if @framing
      end
    end
  end
end
