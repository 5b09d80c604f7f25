"""Messages taken by hand at the front desk (a call, a visitor, a letter) as InboundMessages."""
