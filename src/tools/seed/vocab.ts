/**
 * Fixed vocabularies for seeded profiles and text. Real words, so full-text search over
 * bios finds something; real US cities with their coordinates, so radius search works;
 * small closed sets for the JSONB arrays, so containment filters hit realistic fractions.
 */
interface City { readonly city: string; readonly state: string; readonly lat: number; readonly lng: number; readonly weight: number }

// Weight ≈ metro population in millions (rounded), so big cities hold more users.
export const CITIES: readonly City[] = [
  { city: 'New York', state: 'NY', lat: 40.7128, lng: -74.006, weight: 19 },
  { city: 'Los Angeles', state: 'CA', lat: 34.0522, lng: -118.2437, weight: 13 },
  { city: 'Chicago', state: 'IL', lat: 41.8781, lng: -87.6298, weight: 9 },
  { city: 'Dallas', state: 'TX', lat: 32.7767, lng: -96.797, weight: 8 },
  { city: 'Houston', state: 'TX', lat: 29.7604, lng: -95.3698, weight: 7 },
  { city: 'Atlanta', state: 'GA', lat: 33.749, lng: -84.388, weight: 6 },
  { city: 'Washington', state: 'DC', lat: 38.9072, lng: -77.0369, weight: 6 },
  { city: 'Philadelphia', state: 'PA', lat: 39.9526, lng: -75.1652, weight: 6 },
  { city: 'Miami', state: 'FL', lat: 25.7617, lng: -80.1918, weight: 6 },
  { city: 'Phoenix', state: 'AZ', lat: 33.4484, lng: -112.074, weight: 5 },
  { city: 'Boston', state: 'MA', lat: 42.3601, lng: -71.0589, weight: 5 },
  { city: 'San Francisco', state: 'CA', lat: 37.7749, lng: -122.4194, weight: 5 },
  { city: 'Detroit', state: 'MI', lat: 42.3314, lng: -83.0458, weight: 4 },
  { city: 'Seattle', state: 'WA', lat: 47.6062, lng: -122.3321, weight: 4 },
  { city: 'Minneapolis', state: 'MN', lat: 44.9778, lng: -93.265, weight: 4 },
  { city: 'San Diego', state: 'CA', lat: 32.7157, lng: -117.1611, weight: 3 },
  { city: 'Tampa', state: 'FL', lat: 27.9506, lng: -82.4572, weight: 3 },
  { city: 'Denver', state: 'CO', lat: 39.7392, lng: -104.9903, weight: 3 },
  { city: 'Baltimore', state: 'MD', lat: 39.2904, lng: -76.6122, weight: 3 },
  { city: 'St. Louis', state: 'MO', lat: 38.627, lng: -90.1994, weight: 3 },
  { city: 'Orlando', state: 'FL', lat: 28.5383, lng: -81.3792, weight: 3 },
  { city: 'Charlotte', state: 'NC', lat: 35.2271, lng: -80.8431, weight: 3 },
  { city: 'San Antonio', state: 'TX', lat: 29.4241, lng: -98.4936, weight: 3 },
  { city: 'Portland', state: 'OR', lat: 45.5152, lng: -122.6784, weight: 2 },
  { city: 'Sacramento', state: 'CA', lat: 38.5816, lng: -121.4944, weight: 2 },
  { city: 'Pittsburgh', state: 'PA', lat: 40.4406, lng: -79.9959, weight: 2 },
  { city: 'Austin', state: 'TX', lat: 30.2672, lng: -97.7431, weight: 2 },
  { city: 'Las Vegas', state: 'NV', lat: 36.1699, lng: -115.1398, weight: 2 },
  { city: 'Cincinnati', state: 'OH', lat: 39.1031, lng: -84.512, weight: 2 },
  { city: 'Kansas City', state: 'MO', lat: 39.0997, lng: -94.5786, weight: 2 },
  { city: 'Columbus', state: 'OH', lat: 39.9612, lng: -82.9988, weight: 2 },
  { city: 'Indianapolis', state: 'IN', lat: 39.7684, lng: -86.1581, weight: 2 },
  { city: 'Cleveland', state: 'OH', lat: 41.4993, lng: -81.6944, weight: 2 },
  { city: 'Nashville', state: 'TN', lat: 36.1627, lng: -86.7816, weight: 2 },
  { city: 'Raleigh', state: 'NC', lat: 35.7796, lng: -78.6382, weight: 1 },
  { city: 'Memphis', state: 'TN', lat: 35.1495, lng: -90.049, weight: 1 },
  { city: 'New Orleans', state: 'LA', lat: 29.9511, lng: -90.0715, weight: 1 },
  { city: 'Richmond', state: 'VA', lat: 37.5407, lng: -77.436, weight: 1 },
  { city: 'Louisville', state: 'KY', lat: 38.2527, lng: -85.7585, weight: 1 },
  { city: 'Milwaukee', state: 'WI', lat: 43.0389, lng: -87.9065, weight: 1 },
  { city: 'Birmingham', state: 'AL', lat: 33.5186, lng: -86.8104, weight: 1 },
  { city: 'Salt Lake City', state: 'UT', lat: 40.7608, lng: -111.891, weight: 1 },
  { city: 'Albuquerque', state: 'NM', lat: 35.0844, lng: -106.6504, weight: 1 },
  { city: 'Oakland', state: 'CA', lat: 37.8044, lng: -122.2712, weight: 1 },
  { city: 'Honolulu', state: 'HI', lat: 21.3069, lng: -157.8583, weight: 1 },
];

export const FIRST_NAMES = [
  'James', 'Michael', 'Robert', 'David', 'William', 'Marcus', 'Andre', 'Darius', 'Jamal', 'Tyrone', 'Malik', 'Xavier',
  'Carlos', 'Luis', 'Miguel', 'Diego', 'Mateo', 'Kevin', 'Brian', 'Jason', 'Daniel', 'Anthony', 'Christopher', 'Joshua',
  'Elijah', 'Isaiah', 'Jordan', 'Cameron', 'Terrence', 'Derrick', 'Omar', 'Khalil', 'Ethan', 'Noah', 'Liam', 'Mason',
  'Aaron', 'Brandon', 'Calvin', 'Dominic', 'Emmanuel', 'Felix', 'Gabriel', 'Hector', 'Ivan', 'Julian', 'Kendrick', 'Lamar',
  'Nathan', 'Oscar', 'Quentin', 'Rashad', 'Samuel', 'Trevor', 'Victor', 'Wesley', 'Zion', 'Keith', 'Corey', 'Reggie',
] as const;

export const LAST_NAMES = [
  'Johnson', 'Williams', 'Brown', 'Jones', 'Davis', 'Miller', 'Wilson', 'Moore', 'Taylor', 'Anderson', 'Thomas', 'Jackson',
  'White', 'Harris', 'Martin', 'Thompson', 'Garcia', 'Martinez', 'Robinson', 'Clark', 'Rodriguez', 'Lewis', 'Lee', 'Walker',
  'Hall', 'Allen', 'Young', 'Hernandez', 'King', 'Wright', 'Lopez', 'Hill', 'Scott', 'Green', 'Adams', 'Baker', 'Gonzalez',
  'Nelson', 'Carter', 'Mitchell', 'Perez', 'Roberts', 'Turner', 'Phillips', 'Campbell', 'Parker', 'Evans', 'Edwards',
  'Collins', 'Stewart', 'Morris', 'Rogers', 'Reed', 'Cook', 'Morgan', 'Bell', 'Murphy', 'Bailey', 'Rivera', 'Washington',
] as const;

export const GENDERS = ['man', 'woman', 'non-binary', 'trans man', 'trans woman', 'genderqueer'] as const;
export const GENDER_WEIGHTS = [62, 20, 7, 5, 3, 3] as const;
export const ETHNICITIES = ['Black', 'White', 'Hispanic/Latino', 'Asian', 'Multiracial', 'Middle Eastern', 'Native American', 'Pacific Islander'] as const;
export const ETHNICITY_WEIGHTS = [38, 24, 17, 8, 8, 2, 2, 1] as const;
export const BODY_TYPES = ['slim', 'athletic', 'average', 'muscular', 'stocky', 'curvy', 'large'] as const;
export const RELATIONSHIP_STATUSES = ['single', 'dating', 'in a relationship', 'married', 'open relationship', "it's complicated"] as const;
export const PRIVACY_LEVELS = ['public', 'friends', 'private'] as const;
export const PRIVACY_WEIGHTS = [70, 20, 10] as const;

export const ROLES = [
  'member', 'mentor', 'organizer', 'artist', 'musician', 'photographer', 'writer', 'athlete', 'traveler',
  'volunteer', 'entrepreneur', 'student', 'gamer', 'foodie', 'activist', 'dj',
] as const;

export const INTERESTS = [
  'hiking', 'cooking', 'jazz', 'hip hop', 'basketball', 'yoga', 'photography', 'travel', 'movies', 'reading',
  'gaming', 'fitness', 'art', 'dancing', 'coffee', 'fashion', 'tech', 'politics', 'volunteering', 'running',
  'soccer', 'poetry', 'theater', 'wine', 'camping', 'cycling', 'gardening', 'music production', 'anime', 'podcasts',
  'football', 'swimming', 'comedy', 'history', 'board games', 'karaoke',
] as const;

export const LANGUAGES = ['en', 'es', 'fr', 'pt', 'zh', 'ar', 'ht', 'de', 'ko', 'tl'] as const;
export const EDUCATION = ['high school', 'some college', 'associate', 'bachelors', 'masters', 'doctorate', 'trade school'] as const;
export const OCCUPATIONS = [
  'nurse', 'teacher', 'software engineer', 'barber', 'chef', 'accountant', 'designer', 'student', 'paramedic', 'lawyer',
  'electrician', 'musician', 'photographer', 'pharmacist', 'mechanic', 'writer', 'sales manager', 'personal trainer',
  'social worker', 'architect', 'bartender', 'firefighter', 'data analyst', 'real estate agent',
] as const;
export const LOOKING_FOR = ['friendship', 'dating', 'networking', 'chat', 'long-term relationship', 'activity partners'] as const;
export const DRINKING = ['never', 'socially', 'often'] as const;
export const SIGNUP_SOURCES = ['ios', 'android', 'web', 'referral'] as const;
export const CLIENTS = ['ios', 'android', 'web'] as const;
export const MOODS = ['happy', 'excited', 'tired', 'grateful', 'motivated', 'chill', 'blessed', 'curious'] as const;

// Slot fillers for the sentence templates in text.ts.
export const SLOTS: Readonly<Record<string, readonly string[]>> = {
  event: ['concert', 'game', 'party', 'meetup', 'festival', 'brunch', 'show', 'workshop', 'open mic', 'art walk', 'cookout', 'pride parade'],
  when: ['tonight', 'tomorrow', 'this weekend', 'on friday', 'next week', 'later', 'after work', 'on sunday', 'this morning', 'soon'],
  place: ['the gym', 'the beach', 'the park', 'downtown', 'the museum', 'the farmers market', 'the library', 'the lake', 'the coffee shop', 'the bookstore', 'the club', 'the trail'],
  adj: ['amazing', 'wild', 'so good', 'kind of boring', 'incredible', 'hilarious', 'relaxing', 'exhausting', 'beautiful', 'overrated', 'underrated', 'perfect', 'loud', 'peaceful'],
  media: ['movie', 'documentary', 'episode', 'podcast', 'article', 'video', 'album', 'novel', 'series'],
  topic: ['climate', 'basketball', 'cooking', 'travel', 'music', 'politics', 'photography', 'space', 'art', 'fashion', 'history', 'science', 'fitness', 'housing'],
  activity: ['hiking', 'cooking dinner', 'going dancing', 'running', 'biking', 'painting', 'trying that new restaurant', 'watching a movie', 'playing basketball', 'visiting the museum', 'swimming', 'reading'],
  noun: ['game', 'movie', 'party', 'concert', 'meeting', 'class', 'trip', 'show', 'playlist', 'recipe'],
  food: ['tacos', 'pizza', 'ramen', 'barbecue', 'coffee', 'pancakes', 'sushi', 'gumbo', 'wings', 'burgers', 'jollof rice', 'pho'],
  period: ['weekend', 'day', 'night', 'week', 'trip', 'shift', 'vacation'],
  feeling: ['Feeling great', 'Feeling grateful', 'So tired', 'Really excited', 'Thinking a lot', 'Feeling blessed', 'Kind of nervous', 'Pretty happy'],
  trait: ['Easygoing', 'Curious', 'Laid-back', 'Adventurous', 'Creative', 'Friendly', 'Ambitious', 'Quiet', 'Funny', 'Loyal', 'Thoughtful', 'Outgoing'],
};
