-- The eight built-in roles and what each may do. Roles are data: a deployment can add or
-- adjust them with a later migration or the admin pages, without a code change.
insert into roles (name, label, description, position) values
  ('administrator', 'Administrator', 'Manages the organisation''s members and settings; in the host organisation, the whole installation', 1),
  ('programme_manager', 'Programme manager', 'Supervises caseworkers, approves stage transitions, reads reports', 2),
  ('caseworker', 'Caseworker', 'Registers and follows the cases assigned to them', 3),
  ('border_officer', 'Border officer', 'Records and screens border crossings', 4),
  ('me_officer', 'M&E officer', 'Maintains indicators, forms and reports', 5),
  ('partner_viewer', 'Partner viewer', 'Reads aggregate reports shared with the organisation', 6),
  ('auditor', 'Auditor', 'Reads the audit trail', 7),
  ('data_protection_focal_point', 'Data protection focal point', 'Oversees consent, break-glass access, retention and the audit trail', 8);

insert into role_permissions (role, permission) values
  ('administrator', 'installation.manage'),
  ('administrator', 'org.view'),
  ('administrator', 'members.manage'),
  ('administrator', 'forms.manage'),
  ('programme_manager', 'org.view'),
  ('programme_manager', 'cases.view'),
  ('programme_manager', 'cases.edit'),
  ('programme_manager', 'cases.approve'),
  ('programme_manager', 'crossings.view'),
  ('programme_manager', 'indicators.view'),
  ('programme_manager', 'reports.view'),
  ('caseworker', 'org.view'),
  ('caseworker', 'cases.view'),
  ('caseworker', 'cases.edit'),
  ('border_officer', 'org.view'),
  ('border_officer', 'crossings.view'),
  ('border_officer', 'crossings.record'),
  ('me_officer', 'org.view'),
  ('me_officer', 'indicators.view'),
  ('me_officer', 'indicators.manage'),
  ('me_officer', 'reports.view'),
  ('me_officer', 'forms.manage'),
  ('partner_viewer', 'org.view'),
  ('partner_viewer', 'indicators.view'),
  ('partner_viewer', 'reports.view'),
  ('auditor', 'org.view'),
  ('auditor', 'audit.view'),
  ('data_protection_focal_point', 'org.view'),
  ('data_protection_focal_point', 'audit.view'),
  ('data_protection_focal_point', 'data_protection.oversee');

-- Liberia's 15 counties (ISO 3166-2:LR codes) and their capitals.
insert into counties (code, name, capital) values
  ('LR-BM', 'Bomi', 'Tubmanburg'),
  ('LR-BG', 'Bong', 'Gbarnga'),
  ('LR-GP', 'Gbarpolu', 'Bopolu'),
  ('LR-GB', 'Grand Bassa', 'Buchanan'),
  ('LR-CM', 'Grand Cape Mount', 'Robertsport'),
  ('LR-GG', 'Grand Gedeh', 'Zwedru'),
  ('LR-GK', 'Grand Kru', 'Barclayville'),
  ('LR-LO', 'Lofa', 'Voinjama'),
  ('LR-MG', 'Margibi', 'Kakata'),
  ('LR-MY', 'Maryland', 'Harper'),
  ('LR-MO', 'Montserrado', 'Bensonville'),
  ('LR-NI', 'Nimba', 'Sanniquellie'),
  ('LR-RI', 'River Cess', 'Cestos City'),
  ('LR-RG', 'River Gee', 'Fish Town'),
  ('LR-SI', 'Sinoe', 'Greenville');

-- Border crossing points: the international airports and seaports, and the main land
-- crossings with Sierra Leone, Guinea and Côte d'Ivoire.
insert into crossing_points (code, name, county_code, kind, neighbour) values
  ('RIA', 'Roberts International Airport', 'LR-MG', 'air', null),
  ('SPA', 'Spriggs Payne Airport', 'LR-MO', 'air', null),
  ('FPM', 'Freeport of Monrovia', 'LR-MO', 'sea', null),
  ('BUC', 'Port of Buchanan', 'LR-GB', 'sea', null),
  ('HAR', 'Port of Harper', 'LR-MY', 'sea', null),
  ('BOW', 'Bo Waterside', 'LR-CM', 'river', 'SLE'),
  ('FOY', 'Foya', 'LR-LO', 'land', 'SLE'),
  ('MEN', 'Mendikorma', 'LR-LO', 'land', 'GIN'),
  ('GAN', 'Ganta', 'LR-NI', 'land', 'GIN'),
  ('YEK', 'Yekepa', 'LR-NI', 'land', 'GIN'),
  ('LOG', 'Loguatuo', 'LR-NI', 'land', 'CIV'),
  ('BUU', 'Buutuo', 'LR-NI', 'land', 'CIV'),
  ('TOE', 'Toe Town', 'LR-GG', 'land', 'CIV'),
  ('PRO', 'Prollo', 'LR-MY', 'river', 'CIV');
