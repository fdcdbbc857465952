package roster

// Name tables for synthetic populations: common US given and family
// names, most frequent first (the generator draws with a skew toward the
// front, so common names collide as they do in a real registry).
var femaleGiven = []string{
	"Olivia", "Emma", "Charlotte", "Amelia", "Sophia", "Mia", "Isabella", "Ava", "Evelyn", "Harper",
	"Elizabeth", "Abigail", "Emily", "Madeline", "Victoria", "Samantha", "Jessica", "Jennifer", "Sarah", "Rebecca",
	"Katherine", "Margaret", "Patricia", "Christina", "Stephanie", "Deborah", "Barbara", "Susan", "Dorothy", "Judith",
	"Valerie", "Virginia", "Pamela", "Cynthia", "Angela", "Michelle", "Alexandra", "Gabriella", "Eleanor", "Frances",
	"María", "Guadalupe", "Ximena", "Camila", "Valentina", "Zoë", "Chloé", "Naomi", "Aaliyah", "Priya",
	"Mei", "Fatima", "Nguyen Thi", "Ana Lucía", "Renée", "Siobhan", "Ingrid", "Yesenia", "Destiny", "Kaylee",
}

var maleGiven = []string{
	"Liam", "Noah", "Oliver", "James", "Elijah", "William", "Henry", "Lucas", "Benjamin", "Theodore",
	"Michael", "Alexander", "Daniel", "Matthew", "Joseph", "David", "Samuel", "Christopher", "Andrew", "Joshua",
	"Jonathan", "Nicholas", "Anthony", "Thomas", "Robert", "Richard", "Charles", "Edward", "Timothy", "Stephen",
	"Patrick", "Gregory", "Kenneth", "Ronald", "Donald", "Lawrence", "Frederick", "Vincent", "Zachary", "Nathaniel",
	"José", "Luis", "Juan Carlos", "Mateo", "Santiago", "Diego", "Ahmed", "Mohammed", "Wei", "Raj",
	"Tuan", "Jean-Pierre", "Seán", "Björn", "Jayden", "Brayden", "Kevin", "Tyrone", "Dmitri", "Omar",
}

var family = []string{
	"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
	"Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
	"Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
	"Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
	"Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
	"Gomez", "Phillips", "Evans", "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes",
	"Stewart", "Morris", "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper",
	"Peterson", "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson",
	"Watson", "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes",
	"Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez",
	"Powell", "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler", "Henderson", "Barnes",
	"Gonzales", "Fisher", "Vasquez", "Simmons", "Romero", "Jordan", "Patterson", "Alexander", "Hamilton", "Graham",
	"O'Brien", "McDonald", "Müller", "Peña", "Núñez", "Ibáñez", "García-López", "St. John", "Van der Berg", "D'Angelo",
	"Nowak", "Kowalski", "Schmidt", "Rossi", "Yamamoto", "Tanaka", "Chen", "Wang", "Zhang", "Singh",
	"Okafor", "Mensah", "Haddad", "Cohen", "Friedman", "Johansson", "Larsen", "Novak", "Popescu", "Ivanova",
}
