"""What the ROM bootloader of each chip shows through READ_REG: the registers
esptool reads to tell the chip, its revision, features, crystal and MAC.

One class per chip, whose constants are its registers, as in esptool's
targets/. Values describe a common part: an ESP32-D0WD-V3 (revision v3.0,
as on WROOM-32E modules) and an ESP32-S3 (QFN56, revision v0.2; the PSRAM
profile is an ESP32-S3R8, 8 MB PSRAM in the package). Registers not listed
read as 0 (no secure boot, no flash encryption, nothing disabled).
"""

XTAL_HZ = 40_000_000
ROM_BAUD = 115200  # the rate the ROM starts at (esptool's ESP_ROM_BAUD)


class Esp32:
    name = "ESP32"
    uses_security_info = False  # GET_SECURITY_INFO came with the ESP32-S2
    # The word at this ROM address differs on every chip model (esptool's chip detection).
    MAGIC_REG, MAGIC_VALUE = 0x40001000, 0x00F01D83
    EFUSE = 0x3FF5A000
    APB_CTL_DATE = 0x3FF6607C
    UART_CLKDIV = 0x3FF40014
    RTCCALICFG1 = 0x3FF5F06C
    SPI_BASE = 0x3FF42000
    SPI_USR2, SPI_W0 = 0x24, 0x80
    SPI_ADDR_MSB = True  # the address is sent from the register's top bits

    @classmethod
    def registers(cls, mac, psram=0):
        mac_low = int.from_bytes(mac[2:], "big")
        rev3 = 1 << 15  # with the bits of words 5 and APB_CTL_DATE below: major revision 3
        pkg_d0wd = 1 << 9
        cpu_240mhz = 1 << 13  # CHIP_CPU_FREQ_RATED, not CHIP_CPU_FREQ_LOW
        # CK8M calibration: RTC_CALI_VALUE * 15625 * CK8M_FREQ / 40 gives the 40 MHz
        # crystal esptool expects before it changes the baud rate.
        ck8m = 100
        cali = XTAL_HZ * 40 // (15625 * ck8m)
        return {
            cls.MAGIC_REG: cls.MAGIC_VALUE,
            cls.EFUSE + 4 * 1: mac_low,
            cls.EFUSE + 4 * 2: (mac[0] << 8) | mac[1],  # the top byte would be the MAC's CRC
            cls.EFUSE + 4 * 3: rev3 | pkg_d0wd | cpu_240mhz,
            cls.EFUSE + 4 * 4: ck8m,
            cls.EFUSE + 4 * 5: 1 << 20,
            cls.APB_CTL_DATE: 1 << 31,
            cls.RTCCALICFG1: cali << 7,
        }

    @staticmethod
    def security_info():
        return None


class Esp32s3(Esp32):
    name = "ESP32-S3"
    uses_security_info = True
    IMAGE_CHIP_ID = 9
    MAGIC_REG, MAGIC_VALUE = 0x40001000, 0x00000009  # not used by esptool on this chip: it asks for the chip ID
    EFUSE = 0x60007000
    BLOCK1 = EFUSE + 0x44  # MAC words 0-1, then the chip's versions and capabilities
    BLOCK2 = EFUSE + 0x5C
    UART_CLKDIV = 0x60000014
    SPI_BASE = 0x60002000
    SPI_USR2, SPI_W0 = 0x20, 0x58
    SPI_ADDR_MSB = False

    @classmethod
    def registers(cls, mac, psram=0):
        minor = 2  # v0.2, not the eco0 special case (minor 0 with block version 1.1)
        psram_8mb_3v3 = (1 << 3) | (1 << 7) if psram >= 8 << 20 else 0
        return {
            cls.BLOCK1: int.from_bytes(mac[2:], "big"),
            cls.BLOCK1 + 4: int.from_bytes(mac[:2], "big"),
            cls.BLOCK1 + 4 * 3: minor << 18,
            cls.BLOCK1 + 4 * 4: psram_8mb_3v3,
            cls.BLOCK2 + 4 * 4: 1,  # block version 1.x
        }

    @classmethod
    def security_info(cls):
        """GET_SECURITY_INFO: flags, flash_crypt_cnt, 7 key purposes, chip ID, API version."""
        return bytes(12) + cls.IMAGE_CHIP_ID.to_bytes(4, "little") + (0).to_bytes(4, "little")


CHIPS = {"ESP32": Esp32, "ESP32-S3": Esp32s3}


def uart_clkdiv(baud):
    """UART_CLKDIV at `baud`: esptool multiplies them back into the crystal's frequency."""
    return round(XTAL_HZ / baud)
