# frozen_string_literal: true

require "socket"

module IodineSpec
  # A plain TCP client for raw services: reads what arrives into a buffer
  # and waits (bounded) for text in it or for the server to close.
  class TCPClient
    attr_reader :received, :socket

    def initialize(port, host: "127.0.0.1", timeout: 5)
      @socket = Socket.tcp(host, port, connect_timeout: timeout)
      @timeout = timeout
      @received = "".b
      @eof = false
    end

    def write(data)
      @socket.write(data)
      self
    end

    # Waits until the bytes received so far include text; returns them all
    # (and forgets them), or raises with what came.
    def read_until(text, timeout: @timeout)
      text = text.b
      fill(timeout) { @received.include?(text) }
      closed = " (closed)" if @eof
      raise "no #{text.inspect} within #{timeout}s; got #{@received.inspect}#{closed}" unless @received.include?(text)
      cut = @received.index(text) + text.bytesize
      @received.slice!(0, cut)
    end

    # Reads exactly n bytes (they may come in many pieces).
    def read_bytes(n, timeout: @timeout)
      fill(timeout) { @received.bytesize >= n }
      raise "got #{@received.bytesize} of #{n} bytes within #{timeout}s" if @received.bytesize < n
      @received.slice!(0, n)
    end

    # True once the server closed the connection (within timeout).
    def closed?(timeout: @timeout)
      fill(timeout) { @eof }
      @eof
    end

    # Whatever arrives within seconds (for "nothing more came").
    def drain(seconds)
      fill(seconds) { false }
      @received.slice!(0, @received.bytesize)
    end

    def close
      @socket.close unless @socket.closed?
    end

    # Half-closes: the server reads EOF, and may still answer.
    def close_write
      @socket.close_write
      self
    end

    private

    def fill(timeout)
      deadline = IodineSpec.now + timeout
      until yield || @eof
        left = deadline - IodineSpec.now
        break if left <= 0
        next unless @socket.wait_readable(left)
        begin
          @received << @socket.read_nonblock(65_536)
        rescue IO::WaitReadable
          next
        rescue EOFError, Errno::ECONNRESET
          @eof = true
        end
      end
    end
  end
end
