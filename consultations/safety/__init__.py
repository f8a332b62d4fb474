"""Safety screening of free text: crisis and safeguarding disclosures, personal details."""
