"""Market data sources: historical files and their parsers (plain Python, no ORM here)."""

from execution.marketdata.csvbars import CsvFormatError, ParsedBar, parse_ohlcv_csv

__all__ = ["CsvFormatError", "ParsedBar", "parse_ohlcv_csv"]
