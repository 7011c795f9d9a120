# frozen_string_literal: true

require "socket"
require_relative "process_helpers"

module IodineSpec
  # A parsed HTTP response read off a raw socket.
  class RawResponse
    attr_reader :version, :status, :reason, :headers, :body, :head

    def initialize(version:, status:, reason:, headers:, body:, head:)
      @version = version
      @status = status
      @reason = reason
      @headers = headers # [[name, value], ...] in wire order
      @body = body
      @head = head # the raw status line + headers, as received
    end

    # First value of a header (case-insensitive), or nil.
    def [](name)
      pair = @headers.find { |k, _| k.casecmp?(name) }
      pair && pair[1]
    end

    # Every value of a header, in order.
    def all(name)
      @headers.select { |k, _| k.casecmp?(name) }.map { |_, v| v }
    end

    def header?(name)
      @headers.any? { |k, _| k.casecmp?(name) }
    end

    def chunked?
      all("Transfer-Encoding").any? { |v| v.downcase.include?("chunked") }
    end
  end

  # A raw HTTP/1.x client over one TCP connection, with a read buffer and
  # every read bounded by a deadline. Used for keep-alive, pipelining,
  # malformed input and anything Net::HTTP hides.
  class RawClient
    class Timeout < StandardError; end
    class Closed < StandardError; end

    attr_reader :socket

    def self.open(port, host: "127.0.0.1", timeout: 5, &block)
      over(Socket.tcp(host, port, connect_timeout: timeout), timeout: timeout, &block)
    end

    def self.open_unix(path, timeout: 5, &block)
      over(UNIXSocket.new(path), timeout: timeout, &block)
    end

    # A client over a connected socket; with a block, closed after it.
    def self.over(socket, timeout: 5)
      client = new(socket, timeout: timeout)
      return client unless block_given?

      begin
        yield client
      ensure
        client.close
      end
    end

    def initialize(socket, timeout: 5)
      @socket = socket
      # Unix sockets refuse TCP_NODELAY.
      @socket.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1) if @socket.local_address.ip?
      @buffer = +"".b
      @timeout = timeout
      @eof = false
    end

    def write(data)
      @socket.write(data)
      self
    end

    def close
      @socket.close unless @socket.closed?
    end

    # Builds and writes one request.
    def request(method, path, headers: {}, body: nil, version: "HTTP/1.1")
      headers = { "Host" => "localhost" }.merge(headers)
      headers["Content-Length"] = body.bytesize.to_s if body && !headers.key?("Transfer-Encoding") &&
                                                        !headers.key?("Content-Length")
      raw = +"#{method} #{path} #{version}\r\n"
      headers.each { |k, v| Array(v).each { |vv| raw << "#{k}: #{vv}\r\n" } }
      raw << "\r\n"
      raw = raw.b
      raw << body.b if body
      write(raw)
    end

    # Reads one response. head: true for the answer to a HEAD request
    # (no body whatever the headers say).
    def read_response(head: false, timeout: @timeout)
      deadline = IodineSpec.now + timeout
      head_end = fill_until(deadline) { @buffer.index("\r\n\r\n") }
      unless head_end
        raise Closed, "connection closed before a response (buffer: #{@buffer[0, 200].inspect})" if @eof

        raise Timeout, "no response within #{timeout}s (buffer: #{@buffer[0, 200].inspect})"
      end

      raw_head = @buffer.slice!(0, head_end + 4)
      lines = raw_head.split("\r\n")
      status_line = lines.shift
      m = status_line.match(%r{\A(HTTP/\d\.\d) (\d{3})(?: (.*))?\z})
      raise "bad status line: #{status_line.inspect}" unless m

      headers = lines.map do |l|
        name, value = l.split(":", 2)
        [name, value.to_s.strip]
      end
      status = m[2].to_i
      body = read_body(status, headers, head, deadline)
      RawResponse.new(version: m[1], status: status, reason: m[3].to_s,
                      headers: headers, body: body, head: raw_head)
    end

    # Reads until the peer closes the connection; returns what was read.
    def read_until_eof(timeout: @timeout)
      deadline = IodineSpec.now + timeout
      fill_until(deadline) { nil } # reads until EOF or deadline
      raise Timeout, "peer did not close within #{timeout}s" unless @eof

      @buffer.slice!(0, @buffer.bytesize)
    end

    # True if the peer closed the connection (EOF or reset) within timeout
    # without sending anything more; false if it stayed open (or sent data).
    def closed_by_peer?(timeout: 2)
      deadline = IodineSpec.now + timeout
      fill_until(deadline) { @buffer.empty? ? nil : true }
      @eof && @buffer.empty?
    end

    # Reads at least n bytes (bounded).
    def read_exactly(n, timeout: @timeout)
      deadline = IodineSpec.now + timeout
      ok = fill_until(deadline) { @buffer.bytesize >= n ? true : nil }
      raise Timeout, "wanted #{n} bytes, have #{@buffer.bytesize} (eof=#{@eof})" unless ok

      @buffer.slice!(0, n)
    end

    # Reads until the buffer contains `marker` (bounded); returns everything
    # up to and including the marker.
    def read_through(marker, timeout: @timeout)
      marker = marker.b
      deadline = IodineSpec.now + timeout
      idx = fill_until(deadline) { @buffer.index(marker) }
      raise Timeout, "#{marker.inspect} not seen (buffer: #{@buffer[0, 200].inspect})" unless idx

      @buffer.slice!(0, idx + marker.bytesize)
    end

    def eof?
      @eof
    end

    def buffered
      @buffer
    end

    private

    def read_body(status, headers, head, deadline)
      return "".b if head || status < 200 || [204, 304].include?(status)

      values = ->(name) { headers.select { |k, _| k.casecmp?(name) }.map(&:last) }
      if values.call("Transfer-Encoding").any? { |v| v.downcase.include?("chunked") }
        read_chunked(deadline)
      elsif (len = values.call("Content-Length").first)
        n = Integer(len)
        ok = fill_until(deadline) { @buffer.bytesize >= n ? true : nil }
        raise Timeout, "body: wanted #{n} bytes, have #{@buffer.bytesize}" unless ok

        @buffer.slice!(0, n)
      else
        # No framing: the body runs to the end of the connection.
        fill_until(deadline) { nil }
        raise Timeout, "unframed body did not end" unless @eof

        @buffer.slice!(0, @buffer.bytesize)
      end
    end

    def read_chunked(deadline)
      body = +"".b
      loop do
        line_end = fill_until(deadline) { @buffer.index("\r\n") }
        raise Timeout, "chunk size line missing" unless line_end

        size = Integer(@buffer.slice!(0, line_end + 2).strip.split(";").first, 16)
        if size.zero?
          # Trailers, then an empty line.
          loop do
            e = fill_until(deadline) { @buffer.index("\r\n") }
            raise Timeout, "chunked trailer missing" unless e

            line = @buffer.slice!(0, e + 2)
            return body if line == "\r\n"
          end
        end
        ok = fill_until(deadline) { @buffer.bytesize >= size + 2 ? true : nil }
        raise Timeout, "chunk of #{size} bytes incomplete" unless ok

        body << @buffer.slice!(0, size)
        crlf = @buffer.slice!(0, 2)
        raise "chunk not followed by CRLF: #{crlf.inspect}" unless crlf == "\r\n"
      end
    end

    # Reads into the buffer until the block returns non-nil, EOF or the
    # deadline. Returns the block's value (or nil).
    def fill_until(deadline)
      loop do
        value = yield
        return value if value
        return nil if @eof

        left = deadline - IodineSpec.now
        return nil if left <= 0

        ready = IO.select([@socket], nil, nil, left)
        next unless ready

        begin
          chunk = @socket.read_nonblock(65_536, exception: false)
        rescue Errno::ECONNRESET, Errno::EPIPE
          chunk = nil
        end
        next if chunk == :wait_readable

        if chunk.nil?
          @eof = true
        else
          @buffer << chunk
        end
      end
    end
  end
end
