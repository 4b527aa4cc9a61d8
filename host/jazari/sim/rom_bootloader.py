"""The virtual board in download mode: an ESP32 / ESP32-S3 ROM bootloader,
and esptool's flasher stub once esptool has uploaded it, answering on the
serial line as the chip does, so the real esptool flashes the board.

The wire (esptool's "serial protocol"): SLIP frames (C0 ... C0, with DB DC
for C0 and DB DD for DB inside). A request is `<BBHI`: 0x00, command, data
length, checksum (for data blocks: 0xEF xor every byte), then the data. A
reply is `<BBHI`: 0x01, the same command, data length, a value (READ_REG's
result), then any data and the status: error flag and reason (ROM: 4 bytes,
the stub: 2).

What the ROM does and the stub does differently (both are emulated):
- SYNC: eight replies; the ROM's value is non-zero, the stub's 0 (esptool
  reads that as "the stub already runs").
- FLASH_BEGIN / FLASH_DEFL_BEGIN: the ROM erases up front what it is told
  (the deflated one: a size rounded up to whole blocks); the stub takes the
  uncompressed size. Both erase the 4 KB sectors the write covers.
- FLASH_END / FLASH_DEFL_END with 0: the ROM and the stub reset the chip;
  BOOT is still latched, so it comes back in the ROM bootloader. With 1 the
  ROM runs the app in flash; the stub stays.
- SPI_FLASH_MD5: the ROM answers 32 hex characters, the stub 16 bytes.
- MEM_END with an entry point: the code loaded into RAM runs. The only code
  the virtual board can run there is esptool's flasher stub: it answers
  "OHAI" and serves the stub's commands (ERASE_FLASH, ERASE_REGION,
  READ_FLASH, RUN_USER_CODE, ...).

Register reads come from jazari.sim.rom_chips; SPI flash commands that
esptool runs through the SPI registers (RDID for the flash size, SFDP, status)
are answered from the flash file's size.
"""

import hashlib
import struct
import zlib

from jazari.sim import rom_chips
from jazari.sim.slip import SlipDecoder, checksum, slip_encode

_HEADER = struct.Struct("<BBHI")
REQUEST, RESPONSE = 0x00, 0x01
SECTOR = 0x1000
ERASED = b"\xff"

(FLASH_BEGIN, FLASH_DATA, FLASH_END, MEM_BEGIN, MEM_END, MEM_DATA, SYNC, WRITE_REG, READ_REG,
 SPI_SET_PARAMS) = range(0x02, 0x0C)  # fmt: skip
SPI_ATTACH, READ_FLASH_SLOW, CHANGE_BAUDRATE = 0x0D, 0x0E, 0x0F
FLASH_DEFL_BEGIN, FLASH_DEFL_DATA, FLASH_DEFL_END, SPI_FLASH_MD5, GET_SECURITY_INFO = range(0x10, 0x15)
ERASE_FLASH, ERASE_REGION, READ_FLASH, RUN_USER_CODE = range(0xD0, 0xD4)
STUB_ONLY = {ERASE_FLASH, ERASE_REGION, READ_FLASH, RUN_USER_CODE}

# The ROM's failure reasons (the status is 1, then the reason; esptool reads
# 0x0107 as "Checksum error", 0x0105 "The format of the received message is invalid"):
ROM_INVALID_MESSAGE, ROM_FAILED, ROM_BAD_CHECKSUM, ROM_DEFLATE_ERROR = 0x05, 0x06, 0x07, 0x0B
# The stub's (esptool's stub_flasher.h): its first status byte is the reason itself.
STUB_BAD_LENGTH, STUB_BAD_CHECKSUM, STUB_BAD_BLOCKSIZE, STUB_INVALID_COMMAND = 0xC0, 0xC1, 0xC2, 0xC3
STUB_NOT_IN_FLASH_MODE, STUB_INFLATE_ERROR, STUB_NOT_ENOUGH, STUB_TOO_MUCH = 0xC6, 0xC7, 0xC8, 0xC9

SYNC_VALUE = 0x20120707  # any non-zero value: esptool takes 0 for its stub
STUB_GREETING = b"OHAI"
STUB_MAX_BLOCK = 0x4000  # the stub's largest FLASH_DATA block (esptool's StubMixin.FLASH_WRITE_SIZE)
ROM_READ_BLOCK = 64  # READ_FLASH_SLOW answers 64 bytes, whatever was asked

# SPI flash commands esptool sends through the SPI peripheral's registers.
SPI_CMD_USR = 1 << 18
SPIFLASH_RDID, SPIFLASH_RDSFDP = 0x9F, 0x5A
SFDP_SIGNATURE = 0x50444653
FLASH_MAKER, FLASH_TYPE = 0xEF, 0x40  # a Winbond W25Q, as on most modules

# What the S3's RTC watchdog does when esptool arms it (`--after watchdog-reset`).
S3_RTC_WDTCONFIG0, WDT_ENABLE = 0x60008098, 1 << 31


class Failed(Exception):
    """A request the chip refuses, with the reason the ROM and the stub give."""

    def __init__(self, rom_reason, stub_reason):
        super().__init__(rom_reason, stub_reason)
        self.rom_reason, self.stub_reason = rom_reason, stub_reason


def _words(data, count):
    if len(data) < 4 * count:
        raise Failed(ROM_INVALID_MESSAGE, STUB_BAD_LENGTH)
    return struct.unpack_from(f"<{count}I", data)


def _data_block(data, check, expected_seq):
    """The block of a FLASH_DATA / MEM_DATA request (`<IIII` length, sequence
    number, 0, 0, then the block), refused if damaged or out of order."""
    length, seq = _words(data, 2)
    block = data[16:]
    if length != len(block):
        raise Failed(ROM_INVALID_MESSAGE, STUB_BAD_LENGTH)
    if checksum(block) != check & 0xFF:
        raise Failed(ROM_BAD_CHECKSUM, STUB_BAD_CHECKSUM)
    if seq != expected_seq:
        raise Failed(ROM_INVALID_MESSAGE, STUB_BAD_LENGTH)
    return block


class Flash:
    """The board's flash file, written in place."""

    def __init__(self, path):
        self.file = open(path, "r+b")
        self.size = self.file.seek(0, 2)

    def check(self, offset, length):
        if offset + length > self.size:
            raise Failed(ROM_FAILED, STUB_TOO_MUCH)

    def erase(self, offset, length):
        self.check(offset, length)
        start = offset - offset % SECTOR
        end = min(self.size, -(-(offset + length) // SECTOR) * SECTOR)
        self.file.seek(start)
        self.file.write(ERASED * (end - start))

    def write(self, offset, data):
        self.check(offset, len(data))
        self.file.seek(offset)
        self.file.write(data)

    def read(self, offset, length):
        self.check(offset, length)
        self.file.seek(offset)
        return self.file.read(length)

    def close(self):
        self.file.close()


class Download:
    """One FLASH_BEGIN (or FLASH_DEFL_BEGIN) .. END: where the next block goes."""

    def __init__(self, offset, size, deflated):
        self.offset, self.size = offset, size
        self.next_seq = 0
        self.written = 0
        self.inflater = zlib.decompressobj() if deflated else None


class RomBootloader:
    """The chip in download mode. `feed(bytes from the tool)` returns the bytes it
    answers; afterwards `exit` says whether it left: None, "app" (it runs
    the app in flash: MicroPython boots) or "rom" (a reset back into download mode)."""

    def __init__(self, chip, flash_path, mac, psram=0):
        self.chip = rom_chips.CHIPS[chip]
        self.flash = Flash(flash_path)
        self.registers = self.chip.registers(mac, psram)
        self.baud = rom_chips.ROM_BAUD  # the UART's rate (see autobaud)
        self.baud_set = False  # CHANGE_BAUDRATE has set it
        self.decoder = SlipDecoder()
        self.stub = False
        self.download = None
        self.ram_seq = None  # the next MEM_DATA block's number, between MEM_BEGIN and MEM_END
        self.exit = None
        self._op = None  # the command being handled
        self.flash_written = False  # a session that wrote flash ends in a reset when the tool lets go
        self.watchdog_armed = False
        self._after = []  # frames sent after the reply (the stub's greeting, READ_FLASH data)
        self._handlers = {
            SYNC: self._sync, READ_REG: self._read_reg, WRITE_REG: self._write_reg,
            SPI_SET_PARAMS: self._ignore, SPI_ATTACH: self._ignore, CHANGE_BAUDRATE: self._change_baudrate,
            GET_SECURITY_INFO: self._security_info,
            FLASH_BEGIN: self._flash_begin, FLASH_DEFL_BEGIN: self._flash_begin,
            FLASH_DATA: self._flash_data, FLASH_DEFL_DATA: self._flash_data,
            FLASH_END: self._flash_end, FLASH_DEFL_END: self._flash_end,
            SPI_FLASH_MD5: self._md5, READ_FLASH_SLOW: self._read_flash_slow,
            MEM_BEGIN: self._mem_begin, MEM_DATA: self._mem_data, MEM_END: self._mem_end,
            ERASE_FLASH: self._erase_flash, ERASE_REGION: self._erase_region, READ_FLASH: self._read_flash,
        }  # fmt: skip

    # -- the line

    def feed(self, data):
        out = bytearray()
        for frame in self.decoder.feed(data):
            if self.exit:
                break  # the chip has reset: what follows is not for this bootloader
            out += self._request(frame)
        return bytes(out)

    def _request(self, frame):
        if len(frame) < _HEADER.size or frame[0] != REQUEST:
            return b""  # READ_FLASH's acknowledgements, noise
        _direction, op, length, check = _HEADER.unpack_from(frame)
        data = frame[_HEADER.size : _HEADER.size + length]
        if op == RUN_USER_CODE and self.stub:
            self.exit = "app"  # no reply: the stub returns into the ROM's normal boot
            return b""
        handler = self._handlers.get(op)
        self._op, stub = op, self.stub  # MEM_END's reply is still the ROM's
        value, payload, reason = 0, b"", None
        if handler is None or (op in STUB_ONLY and not stub) or (op == GET_SECURITY_INFO and not self.chip.uses_security_info):
            reason = (ROM_INVALID_MESSAGE, STUB_INVALID_COMMAND)
        else:
            try:
                value, payload = handler(data, check) or (0, b"")
            except Failed as failure:
                reason = (failure.rom_reason, failure.stub_reason)
        reply = self._reply(stub, op, value, payload, reason)
        if op == SYNC:
            reply *= 8
        after, self._after = b"".join(self._after), []
        return reply + after

    @staticmethod
    def _reply(stub, op, value, payload, reason):
        if stub:
            status = bytes([reason[1], 0]) if reason else b"\0\0"
        else:
            status = bytes([1, reason[0], 0, 0]) if reason else b"\0\0\0\0"
        body = payload + status
        return slip_encode(_HEADER.pack(RESPONSE, op, len(body), value) + body)

    def hang_up(self):
        """The tool closed the port. esptool's default `--after hard-reset` pulses
        EN through RTS, which a pseudo-terminal cannot carry: a session that
        wrote flash ends as that reset would, booting what it wrote."""
        if (self.flash_written or self.watchdog_armed) and not self.exit:
            self.exit = "app"
        self.decoder = SlipDecoder()

    def close(self):
        self.flash.close()

    def autobaud(self, baud):
        """The ROM measures the rate the tool speaks at (from its SYNC) and answers
        at it, until CHANGE_BAUDRATE sets one or its stub, which keeps the rate, runs."""
        if baud and not (self.baud_set or self.stub):
            self.baud = baud

    # -- registers

    def _sync(self, data, _check):
        if data[:4] != b"\x07\x07\x12\x20":
            raise Failed(ROM_INVALID_MESSAGE, STUB_BAD_LENGTH)
        return (0 if self.stub else SYNC_VALUE), b""

    def _read_reg(self, data, _check):
        (address,) = _words(data, 1)
        if address == self.chip.UART_CLKDIV:
            return rom_chips.uart_clkdiv(self.baud), b""
        return self.registers.get(address, 0), b""

    def _write_reg(self, data, _check):
        for at in range(0, len(data) - len(data) % 16, 16):
            address, value, mask, _delay = struct.unpack_from("<4I", data, at)
            old = self.registers.get(address, 0)
            self.registers[address] = (old & ~mask) | (value & mask)
            self._register_written(address, value)

    def _register_written(self, address, value):
        spi = self.chip.SPI_BASE
        if address == spi and value & SPI_CMD_USR:
            command = self.registers.get(spi + self.chip.SPI_USR2, 0) & 0xFF
            self.registers[spi + self.chip.SPI_W0] = self._spi_flash_command(command, self.registers.get(spi + 4, 0))
            self.registers[spi] = 0  # done at once
        elif address == S3_RTC_WDTCONFIG0 and value & WDT_ENABLE and self.chip is rom_chips.Esp32s3:
            # It bites once esptool is done (it waits for it, then closes the port) and
            # resets the whole chip: the straps are read again, BOOT is up.
            self.watchdog_armed = True

    def _spi_flash_command(self, command, address):
        if command == SPIFLASH_RDID:
            capacity = self.flash.size.bit_length() - 1  # 4 MB: 0x16, as esptool's table has it
            return FLASH_MAKER | FLASH_TYPE << 8 | capacity << 16
        if command == SPIFLASH_RDSFDP:
            at = address >> 8 if self.chip.SPI_ADDR_MSB else address  # 24-bit address
            return SFDP_SIGNATURE if at == 0 else 0
        return 0  # status registers: not busy, not protected; other commands do nothing here

    def _ignore(self, _data, _check):
        return None

    def _change_baudrate(self, data, _check):
        (self.baud,) = _words(data, 1)
        self.baud_set = True

    def _security_info(self, _data, _check):
        return 0, self.chip.security_info()

    # -- writing flash

    def _flash_begin(self, data, _check):
        size, _blocks, block_size, offset = _words(data, 4)
        if self.stub and block_size > STUB_MAX_BLOCK:
            raise Failed(ROM_INVALID_MESSAGE, STUB_BAD_BLOCKSIZE)
        self.flash.erase(offset, size)
        self.download = Download(offset, size, deflated=self._op == FLASH_DEFL_BEGIN)

    def _flash_data(self, data, check):
        download = self.download
        if download is None or (download.inflater is not None) != (self._op == FLASH_DEFL_DATA):
            raise Failed(ROM_FAILED, STUB_NOT_IN_FLASH_MODE)
        block = _data_block(data, check, download.next_seq)
        if download.inflater is not None:
            try:
                block = download.inflater.decompress(block)
            except zlib.error:
                raise Failed(ROM_DEFLATE_ERROR, STUB_INFLATE_ERROR) from None
        if download.written + len(block) > download.size and self.stub:
            if download.inflater is not None:
                raise Failed(ROM_FAILED, STUB_TOO_MUCH)
            # esptool pads the last plain block to a whole one: the stub keeps only what was announced.
            block = block[: download.size - download.written]
        self.flash.write(download.offset + download.written, block)
        download.written += len(block)
        download.next_seq += 1
        self.flash_written = True

    def _flash_end(self, data, _check):
        (stay,) = _words(data, 1)
        download, self.download = self.download, None
        if self.stub and download is not None and download.inflater is not None and download.written < download.size:
            raise Failed(ROM_FAILED, STUB_NOT_ENOUGH)
        self.flash.file.flush()
        if stay == 0:
            self.exit = "rom"  # a software reset: the straps stay latched, BOOT held
        elif not self.stub:
            self.exit = "app"  # the ROM jumps to the app in flash

    def _md5(self, data, _check):
        address, size = _words(data, 2)
        digest = hashlib.md5(self.flash.read(address, size))
        return 0, digest.digest() if self.stub else digest.hexdigest().encode()

    def _read_flash_slow(self, data, _check):
        address, size = _words(data, 2)
        block = self.flash.read(address, min(size, ROM_READ_BLOCK))
        return 0, block.ljust(ROM_READ_BLOCK, ERASED)

    def _erase_flash(self, _data, _check):
        self.flash.erase(0, self.flash.size)
        self.flash_written = True

    def _erase_region(self, data, _check):
        offset, size = _words(data, 2)
        if offset % SECTOR or size % SECTOR:
            raise Failed(ROM_INVALID_MESSAGE, STUB_BAD_LENGTH)
        self.flash.erase(offset, size)
        self.flash_written = True

    def _read_flash(self, data, _check):
        """The stub sends the data in frames of `block` bytes, then their MD5. It
        would wait for acknowledgements; esptool reads everything in order, so
        here it all goes at once (the acknowledgements are ignored)."""
        offset, size, block, _in_flight = _words(data, 4)
        content = self.flash.read(offset, size)
        self._after = [slip_encode(content[at : at + block]) for at in range(0, size, block)]
        self._after.append(slip_encode(hashlib.md5(content).digest()))

    # -- code in RAM

    def _mem_begin(self, data, _check):
        _words(data, 4)  # size, blocks, block size, address: the stub's segments, which need no RAM here
        self.ram_seq = 0

    def _mem_data(self, data, check):
        if self.ram_seq is None:
            raise Failed(ROM_FAILED, STUB_NOT_IN_FLASH_MODE)
        _data_block(data, check, self.ram_seq)
        self.ram_seq += 1

    def _mem_end(self, data, _check):
        _no_entry, entry = _words(data, 2)
        self.ram_seq = None
        if entry:
            self.stub = True  # replies from here on are the stub's
            self._after = [slip_encode(STUB_GREETING)]
